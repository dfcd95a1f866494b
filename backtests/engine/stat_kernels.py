"""The sweeps' kernels: many books at once, each reduced to running sums (no per-bar arrays).

``book_stats`` runs one book with the semantics of ``fast.simulate`` (the same compiled
``rebalance``) and keeps only running sums (final equity, drawdown, trades, return moments
...), ``batch_stats`` runs many target vectors at once, and ``sma_cross_stats`` derives
SMA-cross targets inside the kernel from compensated prefix sums, so a sweep never touches
pandas per combination. Both take ``returns_only``: then ``book_returns`` keeps only
``RETURN_STATS`` (about half the work per bar), bit for bit as ``book_stats`` would, for
windows where only a return-based metric is read (a walk-forward's train windows).
``fast_metrics`` turns the stats into the metrics of ``metrics`` (formulas from ``measures``).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

from carryguard.backtests.engine.book import FLAT_TOLERANCE
from carryguard.backtests.engine.execution import rebalance
from carryguard.backtests.engine.jit import njit


class Stat(IntEnum):
    """The named fields of one row of book statistics (``book_stats`` writes ``out[Stat.x]``;
    numba reads the members as constants)."""

    final_equity = 0
    max_drawdown = 1
    max_dd_ns = 2
    exposure_bars = 3
    bars = 4
    trades = 5
    wins = 6
    gross_profit = 7
    gross_loss = 8
    sum_return_pct = 9
    fees = 10
    notional = 11
    equity_sum = 12
    ret_count = 13
    ret_sum = 14
    ret_sumsq = 15
    ret_down_sumsq = 16
    start_equity = 17
    first_close = 18
    last_close = 19


STAT_FIELDS = tuple(field.name for field in Stat)
N_STATS = len(Stat)
# What ``book_returns`` fills (the others are NaN): the return moments and the window's ends.
RETURN_STATS = (
    Stat.final_equity,
    Stat.bars,
    Stat.ret_count,
    Stat.ret_sum,
    Stat.ret_sumsq,
    Stat.ret_down_sumsq,
    Stat.start_equity,
    Stat.first_close,
    Stat.last_close,
)


@njit(cache=True)
def book_stats(
    open_: np.ndarray,
    close: np.ndarray,
    times: np.ndarray,
    target: np.ndarray,
    start: int,
    end: int,
    cash0: float,
    commission: float,
    slippage: float,
    band: float,
    out: np.ndarray,
) -> None:
    """Run one book on bars ``[start, end)`` (flat with ``cash0`` at ``start``) and write the
    running sums behind ``carryguard.backtests.engine.measures`` into ``out`` (fields ``Stat``).

    Trades follow ``book.trades_from_fills`` (flat = position <= FLAT_TOLERANCE x the
    trade's peak; a trade still open is marked to the last close without fee and counts
    in wins, profit/loss and expectancy); per-bar returns as count, sum and sum of squares
    (their mean is tiny next to their spread, so the variance loses no digits that matter);
    drawdowns follow ``measures.drawdown_periods`` (``times`` in int64 ns).
    """
    cash = cash0
    pos = 0.0
    peak_time = times[start]
    underwater = False
    max_dd = 0.0
    max_dd_ns = 0
    trades = 0
    wins = 0
    gross_profit = 0.0
    gross_loss = 0.0
    sum_return_pct = 0.0
    fees = 0.0
    notional = 0.0
    in_trade = False
    trade_cost = 0.0
    trade_proceeds = 0.0
    trade_fees = 0.0
    trade_peak = 0.0
    ret_count = 0
    ret_sum = 0.0
    ret_sumsq = 0.0
    ret_down_sumsq = 0.0
    # The first bar apart (no fill, no return; flat, so no exposure): the loop then has no per-bar
    # "first bar?" branches, which makes it about a third faster; the same operations in the same order.
    equity = cash + pos * close[start]
    equity_sum = 0.0 + equity
    exposure_bars = 0
    peak_equity, peak_time, underwater, max_dd, max_dd_ns = _drawdown(
        equity, times[start], cash0, peak_time, underwater, max_dd, max_dd_ns
    )
    for t in range(start + 1, end):
        previous = equity
        cash, pos, qty, price, fee = rebalance(cash, pos, open_[t], target[t - 1], commission, slippage, band)
        if qty != 0.0:
            fees += fee
            notional += abs(qty) * price
            if qty > 0.0:
                if not in_trade:
                    in_trade = True
                    trades += 1
                    trade_cost = 0.0
                    trade_proceeds = 0.0
                    trade_fees = 0.0
                    trade_peak = 0.0
                trade_cost += qty * price
            else:
                trade_proceeds -= qty * price
            trade_fees += fee
            trade_peak = max(trade_peak, pos)
            if in_trade and pos <= FLAT_TOLERANCE * trade_peak:
                pnl = trade_proceeds - trade_cost - trade_fees
                wins, gross_profit, gross_loss, sum_return_pct = _count_trade(
                    pnl, trade_cost, wins, gross_profit, gross_loss, sum_return_pct
                )
                in_trade = False
        equity = cash + pos * close[t]
        equity_sum += equity
        if pos > 0.0:
            exposure_bars += 1
        r = equity / previous - 1.0
        ret_count += 1
        ret_sum += r
        ret_sumsq += r * r
        down = min(0.0, r)  # r when r < 0, else 0.0 (adding 0.0 changes no bit): no branch to mispredict
        ret_down_sumsq += down * down
        peak_equity, peak_time, underwater, max_dd, max_dd_ns = _drawdown(
            equity, times[t], peak_equity, peak_time, underwater, max_dd, max_dd_ns
        )
    if underwater:
        max_dd_ns = max(max_dd_ns, times[end - 1] - peak_time)
    if in_trade:  # still open: marked to the last close without fee
        pnl = trade_proceeds + pos * close[end - 1] - trade_cost - trade_fees
        wins, gross_profit, gross_loss, sum_return_pct = _count_trade(
            pnl, trade_cost, wins, gross_profit, gross_loss, sum_return_pct
        )
    row = (  # in ``Stat`` order
        equity,
        max_dd,
        float(max_dd_ns),
        float(exposure_bars),
        float(end - start),
        float(trades),
        float(wins),
        gross_profit,
        gross_loss,
        sum_return_pct,
        fees,
        notional,
        equity_sum,
        float(ret_count),
        ret_sum,
        ret_sumsq,
        ret_down_sumsq,
        cash0,
        close[start],
        close[end - 1],
    )
    for field in range(N_STATS):
        out[field] = row[field]


@njit(cache=True)
def book_returns(
    open_: np.ndarray,
    close: np.ndarray,
    target: np.ndarray,
    start: int,
    end: int,
    cash0: float,
    commission: float,
    slippage: float,
    band: float,
    out: np.ndarray,
) -> None:
    """``book_stats`` for ``RETURN_STATS`` only (the same operations in the same order, so
    the same bits); the other fields of ``out`` are NaN. No trade, drawdown or exposure
    bookkeeping: what is left is the fills and the per-bar returns."""
    cash = cash0
    pos = 0.0
    equity = cash + pos * close[start]  # as book_stats marks its first bar
    ret_count = 0
    ret_sum = 0.0
    ret_sumsq = 0.0
    ret_down_sumsq = 0.0
    for t in range(start + 1, end):
        previous = equity
        cash, pos, _, _, _ = rebalance(cash, pos, open_[t], target[t - 1], commission, slippage, band)
        equity = cash + pos * close[t]
        r = equity / previous - 1.0
        ret_count += 1
        ret_sum += r
        ret_sumsq += r * r
        down = min(0.0, r)  # r when r < 0, else 0.0 (adding 0.0 changes no bit): no branch to mispredict
        ret_down_sumsq += down * down
    out[:] = np.nan
    out[Stat.final_equity] = equity
    out[Stat.bars] = float(end - start)
    out[Stat.ret_count] = float(ret_count)
    out[Stat.ret_sum] = ret_sum
    out[Stat.ret_sumsq] = ret_sumsq
    out[Stat.ret_down_sumsq] = ret_down_sumsq
    out[Stat.start_equity] = cash0
    out[Stat.first_close] = close[start]
    out[Stat.last_close] = close[end - 1]


@njit(cache=True)
def _window_stats(
    open_: np.ndarray,
    close: np.ndarray,
    times: np.ndarray,
    target: np.ndarray,
    start: int,
    end: int,
    costs: tuple[float, float, float, float],
    returns_only: bool,
    out: np.ndarray,
) -> None:
    """One book on ``[start, end)``: ``book_returns`` when ``returns_only``, else ``book_stats``."""
    cash0, commission, slippage, band = costs
    if returns_only:
        book_returns(open_, close, target, start, end, cash0, commission, slippage, band, out)
    else:
        book_stats(open_, close, times, target, start, end, cash0, commission, slippage, band, out)


@njit(cache=True)
def _drawdown(
    equity: float, time: int, peak_equity: float, peak_time: int, underwater: bool, max_dd: float, max_dd_ns: int
) -> tuple[float, int, bool, float, int]:
    """One close into the drawdown sums: (peak equity, time of the peak, underwater, deepest
    drawdown, longest drawdown in ns so far)."""
    peak_equity = max(peak_equity, equity)
    depth = equity / peak_equity - 1.0
    if depth < 0.0:
        return peak_equity, peak_time, True, min(max_dd, depth), max_dd_ns
    if underwater:
        max_dd_ns = max(max_dd_ns, time - peak_time)
    return peak_equity, time, False, max_dd, max_dd_ns


@njit(cache=True)
def _count_trade(
    pnl: float, cost: float, wins: int, gross_profit: float, gross_loss: float, sum_return_pct: float
) -> tuple[int, float, float, float]:
    """A finished trade's profit (or loss) added to the running trade sums."""
    if pnl > 0.0:
        return wins + 1, gross_profit + pnl, gross_loss, sum_return_pct + pnl / cost * 100.0
    return wins, gross_profit, gross_loss - pnl, sum_return_pct + pnl / cost * 100.0


@njit(cache=True)
def batch_stats(
    open_: np.ndarray,
    close: np.ndarray,
    times: np.ndarray,
    targets: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    costs: tuple[float, float, float, float],
    returns_only: bool = False,
) -> np.ndarray:
    """``book_stats`` (``book_returns`` when ``returns_only``) for each row of ``targets``
    (combos x bars) on each window ``[starts[w], ends[w])`` with ``costs`` =
    ``ExecutionConfig.costs`` (cash, commission, slippage, band); returns windows x combos x N_STATS."""
    out = np.empty((starts.shape[0], targets.shape[0], N_STATS))
    for k in range(targets.shape[0]):
        for w in range(starts.shape[0]):
            _window_stats(open_, close, times, targets[k], starts[w], ends[w], costs, returns_only, out[w, k])
    return out


@njit(cache=True)
def prefix_sums(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compensated prefix sums (hi, lo), each of length n + 1: the sum of ``values[a:b]`` is
    ``(hi[b] - hi[a]) + (lo[b] - lo[a])`` to about one ulp of that sum (TwoSum error
    terms), so window means from prefix sums agree with a rolling mean to rounding."""
    n = values.shape[0]
    hi = np.zeros(n + 1)
    lo = np.zeros(n + 1)
    total = 0.0
    error = 0.0
    for i in range(n):
        y = values[i]
        s = total + y
        b = s - total
        error += (total - (s - b)) + (y - b)
        total = s
        hi[i + 1] = total
        lo[i + 1] = error
    return hi, lo


@njit(cache=True)
def window_means(hi: np.ndarray, lo: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Row i: the mean of the last ``windows[i]`` closes at each bar, from ``prefix_sums(close)``
    (NaN until the window is full). A sweep's pairs share few window lengths: each mean
    (a division) is computed once per length, not once per pair."""
    n = hi.shape[0] - 1
    means = np.empty((windows.shape[0], n))
    for i in range(windows.shape[0]):
        window = windows[i]
        means[i, : min(max(window - 1, 0), n)] = np.nan  # each entry written once (a sweep's table is megabytes)
        for t in range(window - 1, n):
            means[i, t] = ((hi[t + 1] - hi[t + 1 - window]) + (lo[t + 1] - lo[t + 1 - window])) / window
    return means


@njit(cache=True)
def sma_cross_targets(fast_mean: np.ndarray, slow_mean: np.ndarray, warm: int, out: np.ndarray) -> None:
    """The ``sma_cross`` strategy's exposure from two rows of ``window_means``: 1 where the
    fast mean is above the slow one, else 0 (0 before bar ``warm``, until both are defined)."""
    for t in range(out.shape[0]):
        out[t] = 0.0 if t < warm else (1.0 if fast_mean[t] > slow_mean[t] else 0.0)


@njit(cache=True)
def sma_cross_stats(
    open_: np.ndarray,
    close: np.ndarray,
    times: np.ndarray,
    hi: np.ndarray,
    lo: np.ndarray,
    fast: np.ndarray,
    slow: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    costs: tuple[float, float, float, float],
    returns_only: bool = False,
) -> np.ndarray:
    """``batch_stats`` for SMA-cross pairs (``fast[k]``, ``slow[k]``), each target computed
    once in the kernel from ``prefix_sums(close)`` (the means of each distinct window
    length once: ``window_means``); returns windows x combos x N_STATS."""
    out = np.empty((starts.shape[0], fast.shape[0], N_STATS))
    target = np.empty(close.shape[0])
    windows = np.unique(np.concatenate((fast, slow)))
    means = window_means(hi, lo, windows)
    fast_row, slow_row = np.searchsorted(windows, fast), np.searchsorted(windows, slow)
    for k in range(fast.shape[0]):
        sma_cross_targets(means[fast_row[k]], means[slow_row[k]], max(fast[k], slow[k]) - 1, target)
        for w in range(starts.shape[0]):
            _window_stats(open_, close, times, target, starts[w], ends[w], costs, returns_only, out[w, k])
    return out
