"""Data sources: publisher file formats, downloaders (MOF, FRED, yfinance, ccxt)."""
