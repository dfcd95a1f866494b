"""Local stand-ins for remote services (exchanges, publishers), served on 127.0.0.1."""
