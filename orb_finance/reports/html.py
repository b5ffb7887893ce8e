"""The nightly HTML summary: one self-contained file (inline CSS, inline SVG charts drawn here, no script,
no external URL), readable in a light theme, numbers formatted per currency.

Owns the page and its charts: monthly revenue by currency, billings against revenue, AR aging by bucket,
the deferred revenue balance, revenue by item, AR at each month end, the company in its reporting currency,
and the accounting sync's objects by status with the failed records listed.
The page holds nothing that changes from one run to the next on the same data (timings are in run.json).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any, Callable, Sequence

from ..sync.snapshot import SyncSnapshot  # noqa: F401  (the sync section's input; re-exported)
from .headlines import CurrencyHeadline
from .marts import Mart, format_money

BILLINGS_COLOR = "#4c78a8"
REVENUE_COLOR = "#f58518"
BALANCE_COLOR = "#2e7d32"
UNBILLED_COLOR = "#6a51a3"      # unbilled revenue (a negative roll-forward balance): an asset, not an error
NEGATIVE_COLOR = "#c62828"
BUCKET_COLORS = {"current": "#54a24b", "1-30": "#e0b92a", "31-60": "#f58518", "61-90": "#e45756", "91+": "#9e1a1a"}
STATUS_COLORS = {"synced": "#2e7d32", "resynced": "#00897b", "removed": "#607d8b", "pending": "#e0b92a",
                 "retried": "#f58518", "failed": "#c62828", "skipped": "#9e9e9e"}
BUCKETS = ["current", "1-30", "31-60", "61-90", "91+"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


# --- the page ---------------------------------------------------------------------------------------------

def render_summary(as_of: dt.date, marts: dict[str, Mart], minor_units: dict[str, int],
                   headlines: Sequence[CurrencyHeadline], sync: SyncSnapshot | None,
                   files: Sequence[str] = (), reconcile: Any = None, journals: Any = None) -> str:
    money = lambda v, c: format_money(v, c, minor_units)  # noqa: E731
    currencies = sorted({r[marts["billings_monthly"].index("currency")] for r in marts["billings_monthly"].rows}
                        | {r[marts["revenue_monthly"].index("currency")] for r in marts["revenue_monthly"].rows}
                        | {r[marts["ar_aging_summary"].index("currency")] for r in marts["ar_aging_summary"].rows})
    parts = [_HEAD.replace("{title}", esc(f"Orb finance — nightly summary as of {as_of.isoformat()}"))]
    parts.append(f"<header><h1>Orb finance — nightly summary</h1><p class=\"sub\">As of <b>{esc(as_of.isoformat())}</b>"
                 f" · currencies: {esc(', '.join(currencies) or 'none')} · amounts in each currency, never added "
                 "across currencies</p></header>")
    parts.append(_headlines(headlines, money))
    parts.append(_section("Recognized revenue by month", "Total recognized revenue per month (usage, prepaid "
                          "credits, credit notes), from <code>revenue_monthly</code>.",
                          [_revenue_card(c, marts["revenue_monthly"], money) for c in currencies]))
    parts.append(_section("Billings against revenue", "Net billings (invoiced, after credit notes and customer "
                          "balance) next to recognized revenue, per month: <code>billings_monthly</code>, "
                          "<code>revenue_monthly</code>.",
                          [_billings_card(c, marts["billings_monthly"], marts["revenue_monthly"], money)
                           for c in currencies]))
    ar_currencies = sorted({r[marts["ar_aging_summary"].index("currency")] for r in marts["ar_aging_summary"].rows})
    parts.append(_section(f"Accounts receivable aging as of {esc(as_of.isoformat())}",
                          "Open invoices by days past due: <code>ar_aging_summary</code>.",
                          [_aging_card(c, marts["ar_aging_summary"], money) for c in ar_currencies]
                          or ["<p class=\"empty\">No open invoices.</p>"]))
    if "ar_aging" in marts:
        parts.append(_ar_customers_section(as_of, marts["ar_aging"], ar_currencies, money))
    parts.append(_section("Deferred revenue balance", "Closing balance per month (billed minus recognized, "
                          "cumulative): above zero deferred revenue, below zero unbilled revenue. "
                          "<code>deferred_revenue_rollforward</code>.",
                          [_deferred_card(c, marts["deferred_revenue_rollforward"], money) for c in currencies]))
    parts.append(_section("Revenue by item", "Which products drive revenue: recognized revenue per item over "
                          "all months (<code>revenue_by_item_monthly</code>; credits consumed from prepaid balances "
                          "are <i>(prepaid credits)</i>, rows without an item <i>(none)</i>).",
                          [_items_card(c, marts["revenue_by_item_monthly"], money) for c in currencies]))
    month_end_currencies = sorted({r[marts["ar_aging_monthly"].index("currency")] for r in marts["ar_aging_monthly"].rows})
    parts.append(_section("Accounts receivable at month ends", "What was open at each month-end close, by days "
                          "past due (<code>ar_aging_monthly</code>; the last month is aged at the as-of date).",
                          [_month_end_ar_card(c, marts["ar_aging_monthly"], money) for c in month_end_currencies]
                          or ["<p class=\"empty\">No open invoices at any month end.</p>"]))
    parts.append(_consolidated_section(marts["consolidated_monthly"], money))
    parts.append(_sync_section(sync))
    parts.append(_reconcile_section(reconcile))
    if journals is not None:
        parts.append(_journal_section(*journals, money))
    if files:
        items = "".join(f"<li><code>{esc(f)}</code></li>" for f in files)
        parts.append(f"<section><h2>Files in this folder</h2><ul class=\"files\">{items}</ul><p class=\"note\">"
                     "Step timings and the run's outcome are in <code>run.json</code>.</p></section>")
    parts.append("</main></body></html>\n")
    return _anchored("\n".join(parts))


def _anchored(page: str) -> str:
    """Every section gets an id from its title (summary.html#deferred-revenue-balance links to it)."""
    import re

    def anchor(m: "re.Match[str]") -> str:
        title = re.sub(r"<[^>]+>", "", m.group(1)).split(" as of ")[0].split(":")[0]
        slug = re.sub(r"[^a-z0-9]+", "-", html.unescape(title).lower()).strip("-")
        return f'<section id="{slug}"><h2>{m.group(1)}</h2>'
    return re.sub(r"<section><h2>(.*?)</h2>", anchor, page)


def _section(title: str, intro: str, cards: Sequence[str]) -> str:
    return f"<section><h2>{title}</h2><p class=\"note\">{intro}</p><div class=\"grid\">{''.join(cards)}</div></section>"


def _card(title: str, body: str) -> str:
    return f"<div class=\"card\"><h3>{title}</h3>{body}</div>"


def _headlines(headlines: Sequence[CurrencyHeadline], money: Callable) -> str:
    if not headlines:
        return "<section><h2>Headlines</h2><p class=\"empty\">No billed month yet.</p></section>"
    rows = "".join(
        f"<tr><td>{esc(h.currency)}</td><td>{esc(f'{h.last_month:%b %Y}')}</td>"
        + "".join(f"<td class=\"num\">{esc(money(v, h.currency))}</td>" for v in (
            h.net_billings, h.recognized_revenue, h.ar_outstanding, h.ar_past_due, h.deferred_revenue,
            h.unbilled_revenue))
        + "</tr>" for h in headlines)
    return ("<section><h2>Headlines</h2><p class=\"note\">Per currency: net billings and recognized revenue of its "
            "latest billed month; AR open on the as-of date; the revenue roll-forward's balance at that month's end, "
            "as <b>deferred revenue</b> (billed, not yet recognized: a liability) or <b>unbilled revenue</b> "
            "(recognized, not yet billed: an asset).</p><table><thead><tr>"
            "<th>Currency</th><th>Month</th><th class=\"num\">Net billings</th><th class=\"num\">Recognized revenue"
            "</th><th class=\"num\">AR outstanding</th><th class=\"num\">AR past due</th><th class=\"num\">Deferred "
            "revenue</th><th class=\"num\">Unbilled revenue</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></section>")


# --- the cards --------------------------------------------------------------------------------------------

def _rows_for(mart: Mart, currency: str) -> list[dict[str, Any]]:
    names = [c.name for c in mart.columns]
    ci = names.index("currency")
    return [dict(zip(names, r)) for r in mart.rows if r[ci] == currency]


def _month_label(month: dt.date, first: bool) -> tuple[str, str]:
    return MONTHS[month.month - 1], (str(month.year) if first or month.month == 1 else "")


def _revenue_card(currency: str, revenue: Mart, money: Callable) -> str:
    rows = sorted(_rows_for(revenue, currency), key=lambda r: r["month"])
    if not rows:
        return _card(esc(currency), "<p class=\"empty\">No recognized revenue.</p>")
    tips = [f"{r['month']:%b %Y}: {money(r['total_revenue'], currency)} {currency}\nusage "
            f"{money(r['usage_revenue'], currency)}, credits {money(r['credit_consumption_revenue'] + r['credit_breakage_revenue'], currency)}, "
            f"credit notes {money(r['credit_note_revenue'], currency)}" for r in rows]
    svg = bar_chart(
        f"revenue-{currency}", f"Recognized revenue by month, {currency}",
        [_month_label(r["month"], i == 0) for i, r in enumerate(rows)],
        [Series("Recognized revenue", REVENUE_COLOR, [r["total_revenue"] for r in rows], tips)])
    total = sum((r["total_revenue"] for r in rows), Decimal(0))
    return _card(f"{esc(currency)} <span class=\"muted\">total {esc(money(total, currency))}</span>", svg)


def _billings_card(currency: str, billings: Mart, revenue: Mart, money: Callable) -> str:
    b = {r["month"]: r["net_billings"] for r in _rows_for(billings, currency)}
    rv = {r["month"]: r["total_revenue"] for r in _rows_for(revenue, currency)}
    months = sorted(set(b) | set(rv))
    if not months:
        return _card(esc(currency), "<p class=\"empty\">No billings or revenue.</p>")
    def tip(label: str, m: dt.date, v: Decimal | None) -> str:
        return f"{label}, {m:%b %Y}: {money(v, currency) if v is not None else 'none'} {currency}"
    svg = bar_chart(
        f"billings-{currency}", f"Net billings against recognized revenue, {currency}",
        [_month_label(m, i == 0) for i, m in enumerate(months)],
        [Series("Net billings", BILLINGS_COLOR, [b.get(m) for m in months],
                [tip("Net billings", m, b.get(m)) for m in months]),
         Series("Recognized revenue", REVENUE_COLOR, [rv.get(m) for m in months],
                [tip("Recognized revenue", m, rv.get(m)) for m in months])])
    return _card(esc(currency), _legend([("Net billings", BILLINGS_COLOR), ("Recognized revenue", REVENUE_COLOR)]) + svg)


def _aging_card(currency: str, summary: Mart, money: Callable) -> str:
    by_bucket = {r["aging_bucket"]: r for r in _rows_for(summary, currency)}
    values = [by_bucket.get(k, {}).get("amount_outstanding") or Decimal(0) for k in BUCKETS]
    counts = [by_bucket.get(k, {}).get("invoice_count") or 0 for k in BUCKETS]
    tips = [f"{k}: {money(v, currency)} {currency} in {n} invoice(s)" for k, v, n in zip(BUCKETS, values, counts)]
    svg = bar_chart(f"aging-{currency}", f"AR aging by bucket, {currency}",
                    [(k if k == "current" else f"{k} d", f"{n} inv.") for k, n in zip(BUCKETS, counts)],
                    [Series("Outstanding", "", values, tips, colors=[BUCKET_COLORS[k] for k in BUCKETS])],
                    value_labels=[money(v, currency) for v in values])
    total = sum(values, Decimal(0))
    past_due = sum(values[1:], Decimal(0))
    return _card(f"{esc(currency)} <span class=\"muted\">outstanding {esc(money(total, currency))}, past due "
                 f"{esc(money(past_due, currency))}</span>", svg)


MAX_CUSTOMERS = 10


def _ar_customers_section(as_of: dt.date, aging: Mart, currencies: Sequence[str], money: Callable) -> str:
    """Who owes the most, per currency: the customers with the largest open balance (name and id), with what is
    past due and the oldest invoice's days past due (every open invoice: the ar_aging sheet and CSV)."""
    cards = []
    for currency in currencies:
        by_customer: dict[tuple[str, str], dict[str, Any]] = {}
        for r in _rows_for(aging, currency):
            c = by_customer.setdefault((r["customer_id"], r["customer_name"] or ""), {
                "invoices": 0, "open": Decimal(0), "past_due": Decimal(0), "oldest": None})
            c["invoices"] += 1
            c["open"] += r["amount_outstanding"]
            if r["aging_bucket"] != "current":
                c["past_due"] += r["amount_outstanding"]
            days = r["days_past_due"]
            c["oldest"] = days if c["oldest"] is None or (days is not None and days > c["oldest"]) else c["oldest"]
        ranked = sorted(by_customer.items(), key=lambda kv: (-kv[1]["open"], kv[0]))
        rows = "".join(
            f"<tr><td>{esc(name or '(no name)')}<br><code class=\"id\">{esc(cid)}</code> "
            f"<span class=\"muted small\">· {c['invoices']:,} invoice{'s' if c['invoices'] != 1 else ''}</span></td>"
            f"<td class=\"num\">{esc(money(c['open'], currency))}</td>"
            f"<td class=\"num\">{esc(money(c['past_due'], currency)) if c['past_due'] else ''}</td>"
            f"<td class=\"num\">{esc(c['oldest']) if c['oldest'] is not None and c['oldest'] > 0 else ''}</td></tr>"
            for (cid, name), c in ranked[:MAX_CUSTOMERS])
        more = (f"<p class=\"note\">… and {len(ranked) - MAX_CUSTOMERS:,} more customers: every open invoice is in the "
                "<code>ar_aging</code> sheet of the workbook.</p>") if len(ranked) > MAX_CUSTOMERS else ""
        table = ("<table class=\"compact\"><thead><tr><th>Customer</th><th class=\"num\">Open</th>"
                 "<th class=\"num\">Past due</th><th class=\"num\" title=\"days past due of the oldest invoice\">Days"
                 "</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>{more}")
        cards.append(_card(f"{esc(currency)} <span class=\"muted\">{len(ranked):,} customers with open invoices"
                           "</span>", table))
    return _section(f"Largest open balances as of {esc(as_of.isoformat())}",
                    "The customers who owe the most, by name and Orb id: open and past-due amounts, and the days past "
                    "due of their oldest open invoice (<code>ar_aging</code>).",
                    cards or ["<p class=\"empty\">No open invoices.</p>"])


def _deferred_card(currency: str, rollforward: Mart, money: Callable) -> str:
    rows = sorted(_rows_for(rollforward, currency), key=lambda r: r["month"])
    if not rows:
        return _card(esc(currency), "<p class=\"empty\">No billing or revenue.</p>")

    def balance(value: Decimal) -> str:
        return (f"{money(value, currency)} {currency} deferred revenue" if value >= 0 else
                f"{money(-value, currency)} {currency} unbilled revenue")
    tips = [f"{r['month']:%b %Y}: {balance(r['closing_balance'])} (opening {money(r['opening_balance'], currency)}, "
            f"billed {money(r['billed'], currency)}, recognized {money(r['recognized'], currency)})" for r in rows]
    svg = line_chart(f"deferred-{currency}", f"Deferred and unbilled revenue at month ends, {currency}",
                     [_month_label(r["month"], i == 0) for i, r in enumerate(rows)],
                     [r["closing_balance"] for r in rows], tips, BALANCE_COLOR, below_color=UNBILLED_COLOR)
    last = rows[-1]["closing_balance"]
    amount, kind = (last, "deferred revenue") if last >= 0 else (-last, "unbilled revenue")
    return _card(f"{esc(currency)} <span class=\"muted\">{esc(rows[-1]['month'].strftime('%b %Y'))}: "
                 f"{esc(money(amount, currency))} {kind}</span>",
                 _legend([("deferred revenue (above 0)", BALANCE_COLOR), ("unbilled revenue (below 0)", UNBILLED_COLOR)])
                 + svg)


ITEM_COLOR = "#4c78a8"
MAX_ITEMS = 8


def _items_card(currency: str, by_item: Mart, money: Callable) -> str:
    totals: dict[tuple[str, str], Decimal] = {}
    for r in _rows_for(by_item, currency):
        key = (r["item_id"], r["item_name"] or r["item_id"])
        totals[key] = totals.get(key, Decimal(0)) + r["total_revenue"]
    if not totals:
        return _card(esc(currency), "<p class=\"empty\">No revenue by item.</p>")
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    shown, rest = ranked[:MAX_ITEMS], ranked[MAX_ITEMS:]
    rows = [(name, value, f"{name} ({item_id}): {money(value, currency)} {currency}") for (item_id, name), value in shown]
    if rest:
        other = sum((v for _, v in rest), Decimal(0))
        rows.append((f"{len(rest)} other items", other, f"{len(rest)} other items: {money(other, currency)} {currency}"))
    svg = ranked_bars(f"items-{currency}", f"Recognized revenue by item, {currency}", rows, ITEM_COLOR,
                      [money(v, currency) for _, v, _ in rows])
    total = sum(totals.values(), Decimal(0))
    return _card(f"{esc(currency)} <span class=\"muted\">total {esc(money(total, currency))}</span>", svg)


def _month_end_ar_card(currency: str, monthly: Mart, money: Callable) -> str:
    rows = _rows_for(monthly, currency)
    month_ends = sorted({r["month_end"] for r in rows})
    amounts = {(r["month_end"], r["aging_bucket"]): r["amount_outstanding"] for r in rows}
    dates = {r["month_end"]: r["as_of_date"] for r in rows}
    series = [Series(bucket, BUCKET_COLORS[bucket], [amounts.get((m, bucket), Decimal(0)) for m in month_ends],
                     [f"{dates[m]:%d %b %Y}, {bucket}: {money(amounts.get((m, bucket), Decimal(0)), currency)} {currency}"
                      for m in month_ends]) for bucket in BUCKETS]
    svg = stacked_bar_chart(f"ar-month-ends-{currency}", f"AR outstanding at month ends by bucket, {currency}",
                            [_month_label(m, i == 0) for i, m in enumerate(month_ends)], series)
    last = month_ends[-1]
    open_now = sum((amounts.get((last, b), Decimal(0)) for b in BUCKETS), Decimal(0))
    return _card(f"{esc(currency)} <span class=\"muted\">{esc(f'{dates[last]:%d %b %Y}')}: "
                 f"{esc(money(open_now, currency))}</span>", _legend([(b, BUCKET_COLORS[b]) for b in BUCKETS]) + svg)


def _consolidated_section(consolidated: Mart, money: Callable) -> str:
    title = "<h2>The company in one currency</h2>"
    rows = sorted((dict(zip([c.name for c in consolidated.columns], r)) for r in consolidated.rows),
                  key=lambda r: r["month"])
    if not rows:
        return (f"<section>{title}<p class=\"empty\">No reporting currency: run with <code>--reporting-currency USD "
                "--fx-rates FILE</code> to see revenue, billings, deferred revenue and AR of every currency together "
                "(<code>consolidated_monthly</code>).</p></section>")
    code = rows[0]["reporting_currency"]
    months = [r["month"] for r in rows]
    labels = [_month_label(m, i == 0) for i, m in enumerate(months)]
    def tip(label: str, r: dict, key: str) -> str:
        value = r[key]
        return f"{label}, {r['month']:%b %Y}: {money(value, code) if value is not None else 'not known yet'} {code}"
    revenue = bar_chart(
        "consolidated-revenue", f"Consolidated net billings and recognized revenue by month, {code}", labels,
        [Series("Net billings", BILLINGS_COLOR, [r["net_billings"] for r in rows],
                [tip("Net billings", r, "net_billings") for r in rows]),
         Series("Recognized revenue", REVENUE_COLOR, [r["total_revenue"] for r in rows],
                [tip("Recognized revenue", r, "total_revenue") for r in rows])])
    balances = bar_chart(
        "consolidated-balances", f"Consolidated AR and deferred revenue at month ends, {code}", labels,
        [Series("AR outstanding", BUCKET_COLORS["1-30"], [r["ar_outstanding"] for r in rows],
                [tip("AR outstanding", r, "ar_outstanding") for r in rows]),
         Series("Deferred revenue", BALANCE_COLOR, [r["deferred_revenue_closing"] for r in rows],
                [tip("Deferred revenue, net of unbilled (below 0: unbilled revenue)", r, "deferred_revenue_closing")
                 for r in rows], colors=[BALANCE_COLOR if (r["deferred_revenue_closing"] or 0) >= 0 else UNBILLED_COLOR
                                         for r in rows])])
    total = sum((r["total_revenue"] for r in rows), Decimal(0))
    intro = (f"<p class=\"note\">Every currency converted to <b>{esc(code)}</b> (<code>consolidated_monthly</code>): "
             "billings and revenue at each month's average rate, balances at the rate of the month's last day; each "
             "currency's amount rounded, then added.</p>")
    cards = (_card(f"Revenue and net billings <span class=\"muted\">total revenue {esc(money(total, code))} {esc(code)}</span>",
                   _legend([("Net billings", BILLINGS_COLOR), ("Recognized revenue", REVENUE_COLOR)]) + revenue)
             + _card("AR and deferred revenue <span class=\"muted\">at month ends, every currency's deferred revenue "
                     "less its unbilled revenue</span>",
                     _legend([("AR outstanding", BUCKET_COLORS["1-30"]), ("net deferred revenue", BALANCE_COLOR),
                              ("net unbilled revenue", UNBILLED_COLOR)]) + balances))
    return f"<section>{title}{intro}<div class=\"grid\">{cards}</div></section>"


def _sync_section(sync: SyncSnapshot | None) -> str:
    title = "<h2>Accounting sync</h2>"
    if sync is None:
        return f"<section>{title}<p class=\"empty\">The sync did not run.</p></section>"
    statuses = [s for s in STATUS_COLORS if any(c.get(s) for c in sync.counts.values())]
    counted = {otype: counts for otype, counts in sync.counts.items() if sum(counts.values())}   # types with objects
    head = "".join(f"<th class=\"num\">{esc(s)}</th>" for s in statuses)
    body = "".join(
        f"<tr><td>{esc(otype.replace('_', ' '))}</td>"
        + "".join(f"<td class=\"num\">{counts.get(s, 0):,}</td>" for s in statuses)
        + f"<td class=\"num\">{sum(counts.values()):,}</td></tr>" for otype, counts in counted.items())
    table = (f"<table><thead><tr><th>Object</th>{head}<th class=\"num\">total</th></tr></thead><tbody>{body}"
             "</tbody></table>")
    chart = status_chart("sync-status", f"Objects in {sync.provider} by sync status", counted, statuses)
    note = f"<p class=\"note\">{esc(sync.note)}</p>" if sync.note else ""
    if sync.failed:
        rows = "".join(
            f"<tr><td class=\"num\">{esc(f.get('record_id'))}</td><td>{esc(f.get('object_type'))}</td>"
            f"<td><code>{esc(f.get('orb_id'))}</code></td><td>{esc(f.get('invoice_number'))}</td>"
            f"<td class=\"num\">{esc(f.get('amount'))}</td><td>{esc(f.get('currency'))}</td>"
            f"<td class=\"err\">{esc(f.get('error'))}</td></tr>" for f in sync.failed)
        failed = (f"<h3>Failed records ({len(sync.failed):,})</h3><p class=\"note\">Fix the cause, then "
                  "<code>orbfin sync retry RECORD_ID</code> (failures are never retried automatically).</p>"
                  "<table class=\"failed\"><thead><tr><th class=\"num\">Record</th><th>Object</th><th>Orb id</th>"
                  "<th>Invoice</th><th class=\"num\">Amount</th><th>Currency</th><th>Error</th></tr></thead>"
                  f"<tbody>{rows}</tbody></table>")
    else:
        failed = "<p class=\"ok\">No failed records.</p>"
    failed += _record_list(f"Pending ({len(sync.pending):,})", "Accepted by the provider, not final yet (an "
                           "asynchronous write, or a run that died mid-request); the next run settles them.",
                           sync.pending, "pending_ref")
    failed += _record_list(f"Changed in Orb since synced ({len(sync.changed):,})", "Synced, but Orb's data changed "
                           "since (not re-sent by itself): <code>orbfin sync resync OBJECT_TYPE ORB_ID</code> sends one "
                           "again.", sync.changed, None)
    intro = (f"<p class=\"note\">Each Orb object by the latest status of its sync record at "
             f"<b>{esc(sync.provider)}</b> (removed: voided or deleted there after a void in Orb; skipped: not "
             "sent by the last run, see <code>orbfin sync records --skipped</code>).</p>")
    legend = _legend([(s, STATUS_COLORS[s]) for s in statuses])
    return (f"<section>{title}{intro}{note}<div class=\"grid two\"><div class=\"card\">{legend}{chart}</div>"
            f"<div class=\"card\">{table}</div></div>{failed}</section>")


def _record_list(title: str, note: str, records: Sequence[dict[str, Any]], extra: str | None) -> str:
    if not records:
        return ""
    rows = "".join(
        f"<tr><td class=\"num\">{esc(r.get('record_id'))}</td><td>{esc(r.get('object_type'))}</td>"
        f"<td><code>{esc(r.get('orb_id'))}</code></td><td>{esc(r.get('invoice_number'))}</td>"
        f"<td class=\"num\">{esc(r.get('amount'))}</td><td>{esc(r.get('currency'))}</td>"
        + (f"<td><code>{esc(r.get(extra))}</code></td>" if extra else "") + "</tr>" for r in records[:200])
    more = f"<p class=\"note\">… and {len(records) - 200:,} more.</p>" if len(records) > 200 else ""
    return (f"<h3>{esc(title)}</h3><p class=\"note\">{note}</p><table><thead><tr><th class=\"num\">Record</th>"
            "<th>Object</th><th>Orb id</th><th>Invoice</th><th class=\"num\">Amount</th><th>Currency</th>"
            + ("<th>Provider job</th>" if extra else "") + f"</tr></thead><tbody>{rows}</tbody></table>{more}")


def _reconcile_section(report: Any) -> str:
    """SPEC §5.1: the books read back beside the warehouse, one row per check and currency (differing customers
    listed under them)."""
    title = "<h2>Do the books tie?</h2>"
    if report is None:
        return f"<section>{title}<p class=\"empty\">Reconcile did not run.</p></section>"
    if isinstance(report, str):
        return f"<section>{title}<p class=\"err\">{esc(report)}</p></section>"
    from ..sync.reconcile import CHECKS, DIFFERS, _fmt, describe

    rows = []
    for l in report.lines + [c for c in report.customers if c.status == DIFFERS]:
        who = esc(l.customer_name or l.customer_id or "")
        cls = {"ties": "ok", "differs": "err", "out of scope": "note"}[l.status]
        rows.append(f"<tr><td>{esc(CHECKS.get(l.check, l.check))}</td><td>{esc(l.currency)}</td><td>{who}</td>"
                    f"<td class=\"num\">{esc(_fmt(l.books))}</td><td class=\"num\">{esc(_fmt(l.warehouse))}</td>"
                    f"<td class=\"num\">{esc(_fmt(l.out_of_scope)) if l.out_of_scope else ''}</td>"
                    f"<td class=\"num\">{esc(_fmt(l.apart)) if l.apart else ''}</td>"
                    f"<td class=\"num\">{esc(_fmt(l.difference)) if l.difference else ''}</td>"
                    f"<td class=\"{cls}\">{esc(l.status)}</td><td>{esc('; '.join(l.objects[:5]) or l.note)}</td></tr>")
    verdict = (f"<p class=\"ok\">The {esc(report.provider)} books tie to the warehouse as of {esc(report.as_of)}.</p>"
               if report.ok else f"<p class=\"err\">{esc(report.summary())}</p>")
    intro = ("<p class=\"note\">The accounting system's balances read back (<code>orbfin sync reconcile</code>) beside "
             "the warehouse's: receivables against AR aging, customer balances against Orb's, cash, revenue net of "
             "credit notes and tax against the documents synced. <i>Out of scope</i>: left out by a setting such as "
             "minimum_issue_date; <i>apart</i>: credit left on paid invoices. Every line is in "
             "<code>reconcile.csv</code>.</p>")
    table = ("<table><thead><tr><th>Check</th><th>Currency</th><th>Customer</th><th class=\"num\">Books</th>"
             "<th class=\"num\">Warehouse</th><th class=\"num\">Out of scope</th><th class=\"num\">Apart</th>"
             "<th class=\"num\">Difference</th><th>Status</th><th>Behind it</th></tr></thead><tbody>"
             + "".join(rows) + "</tbody></table>")
    return f"<section>{title}{intro}{verdict}{table}</section>"


def _journal_section(month: dt.date, payloads: Sequence[Any], money: Callable) -> str:
    """SPEC §5.2: the revenue recognition journal of the last ended month, per currency, as debit/credit lines."""
    from ..sync.recognition import ACCOUNT_NAMES

    title = f"<h2>Revenue recognition journal: {esc(month.strftime('%B %Y'))}</h2>"
    if not payloads:
        return f"<section>{title}<p class=\"empty\">Nothing recognized in {esc(month.strftime('%B %Y'))}.</p></section>"
    rows = []
    for p in payloads:
        for l in p.lines:
            debit = money(l.amount, p.currency) if l.amount > 0 else ""
            credit = money(-l.amount, p.currency) if l.amount < 0 else ""
            rows.append(f"<tr><td>{esc(p.entry_date)}</td><td>{esc(ACCOUNT_NAMES[l.kind])}</td><td>{esc(p.currency)}</td>"
                        f"<td class=\"num\">{esc(debit)}</td><td class=\"num\">{esc(credit)}</td></tr>")
    intro = ("<p class=\"note\">What the month's journal moves from deferred revenue to revenue (usage, prepaid credit "
             "consumption and breakage, credit notes), with deferred revenue reclassified to unbilled revenue where the "
             "balance is negative; <code>orbfin journal export --month YYYY-MM</code> writes it for any ERP.</p>")
    return (f"<section>{title}{intro}<table><thead><tr><th>Date</th><th>Account</th><th>Currency</th>"
            "<th class=\"num\">Debit</th><th class=\"num\">Credit</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></section>")


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return "<p class=\"legend\">" + "".join(
        f"<span><i style=\"background:{c}\"></i>{esc(n)}</span>" for n, c in items) + "</p>"


# --- charts: inline SVG -----------------------------------------------------------------------------------

@dataclass
class Series:
    name: str
    color: str
    values: list[Decimal | None]
    tips: list[str]
    colors: list[str] | None = None    # one colour per bar instead of the series colour


W, H = 400, 220
LEFT, RIGHT, TOP, BOTTOM = 50, 8, 14, 36


def nice_ticks(lo: Decimal, hi: Decimal, count: int = 5) -> list[Decimal]:
    """Round tick values covering [lo, hi] (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    lo, hi = min(lo, Decimal(0)), max(hi, Decimal(0))
    if lo == hi:
        hi = lo + 1
    raw = (hi - lo) / count
    base = Decimal(1).scaleb(raw.adjusted())
    step = next(base * m for m in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)) if base * m >= raw)
    start = (lo / step).to_integral_value(rounding=ROUND_FLOOR) * step
    end = (hi / step).to_integral_value(rounding=ROUND_CEILING) * step
    n = int((end - start) / step)
    return [start + step * i for i in range(n + 1)]


def compact(value: Decimal) -> str:
    """An axis label: 1250000 -> '1.25M', 2500 -> '2.5k', 0.5 -> '0.5'."""
    sign = "-" if value < 0 else ""
    v = abs(value)
    for limit, suffix in ((Decimal(10) ** 12, "T"), (Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(1000), "k")):
        if v >= limit:
            return sign + _trim(v / limit) + suffix
    return sign + _trim(v)


def _trim(v: Decimal) -> str:
    text = format(v.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _px(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP), "f")


class _Scale:
    def __init__(self, values: Sequence[Decimal | None]):
        present = [v for v in values if v is not None] or [Decimal(0)]
        self.ticks = nice_ticks(min(present), max(present))
        self.lo, self.hi = self.ticks[0], self.ticks[-1]
        self.plot_h = Decimal(H - TOP - BOTTOM)

    def y(self, value: Decimal) -> Decimal:
        return Decimal(TOP) + (self.hi - value) / (self.hi - self.lo) * self.plot_h


def _frame(chart_id: str, label: str, scale: _Scale, categories: Sequence[tuple[str, str]], band: Decimal) -> list[str]:
    out = [f"<svg data-chart=\"{esc(chart_id)}\" viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" "
           f"aria-label=\"{esc(label)}\"><title>{esc(label)}</title>"]
    for t in scale.ticks:
        y = _px(scale.y(t))
        cls = "zero" if t == 0 else "gl"
        out.append(f"<line class=\"{cls}\" x1=\"{LEFT}\" x2=\"{W - RIGHT}\" y1=\"{y}\" y2=\"{y}\"/>"
                   f"<text class=\"tick\" x=\"{LEFT - 6}\" y=\"{y}\" dy=\"0.32em\" text-anchor=\"end\">{esc(compact(t))}</text>")
    for i, (top, bottom) in enumerate(categories):
        x = _px(Decimal(LEFT) + band * i + band / 2)
        out.append(f"<text class=\"cat\" x=\"{x}\" y=\"{H - BOTTOM + 16}\" text-anchor=\"middle\">{esc(top)}</text>")
        if bottom:
            out.append(f"<text class=\"cat sub\" x=\"{x}\" y=\"{H - BOTTOM + 30}\" text-anchor=\"middle\">{esc(bottom)}</text>")
    return out


def bar_chart(chart_id: str, label: str, categories: Sequence[tuple[str, str]], series: Sequence[Series],
              value_labels: Sequence[str] | None = None) -> str:
    """Vertical bars, one group per category, one bar per series; negative values hang below zero."""
    scale = _Scale([v for s in series for v in s.values])
    band = Decimal(W - LEFT - RIGHT) / max(len(categories), 1)
    out = _frame(chart_id, label, scale, categories, band)
    inner = band * Decimal("0.78")
    bar_w = inner / len(series)
    zero = scale.y(Decimal(0))
    for si, s in enumerate(series):
        for i, v in enumerate(s.values):
            if v is None:
                continue
            x = Decimal(LEFT) + band * i + (band - inner) / 2 + bar_w * si
            y = scale.y(v)
            top, height = (y, zero - y) if v >= 0 else (zero, y - zero)
            color = s.colors[i] if s.colors else (s.color if v >= 0 or len(series) > 1 else NEGATIVE_COLOR)
            out.append(f"<rect x=\"{_px(x + 1)}\" y=\"{_px(top)}\" width=\"{_px(max(bar_w - 2, Decimal(1)))}\" "
                       f"height=\"{_px(max(height, Decimal('0.5')))}\" fill=\"{color}\"><title>{esc(s.tips[i])}</title></rect>")
            if value_labels:
                ly = top - 4 if v >= 0 else top + height + 12
                out.append(f"<text class=\"val\" x=\"{_px(x + bar_w / 2)}\" y=\"{_px(ly)}\" text-anchor=\"middle\">"
                           f"{esc(value_labels[i])}</text>")
    out.append("</svg>")
    return "".join(out)


def stacked_bar_chart(chart_id: str, label: str, categories: Sequence[tuple[str, str]],
                      series: Sequence[Series]) -> str:
    """One bar per category, the series' (non-negative) values stacked in order from zero up."""
    totals = [sum((s.values[i] or Decimal(0) for s in series), Decimal(0)) for i in range(len(categories))]
    scale = _Scale(totals)
    band = Decimal(W - LEFT - RIGHT) / max(len(categories), 1)
    out = _frame(chart_id, label, scale, categories, band)
    width = band * Decimal("0.7")
    for i in range(len(categories)):
        x = Decimal(LEFT) + band * i + (band - width) / 2
        base = Decimal(0)
        for s in series:
            v = s.values[i] or Decimal(0)
            if v <= 0:
                continue
            top, bottom = scale.y(base + v), scale.y(base)
            out.append(f"<rect x=\"{_px(x)}\" y=\"{_px(top)}\" width=\"{_px(width)}\" "
                       f"height=\"{_px(max(bottom - top, Decimal('0.5')))}\" fill=\"{s.color}\"><title>{esc(s.tips[i])}</title></rect>")
            base += v
    out.append("</svg>")
    return "".join(out)


def ranked_bars(chart_id: str, label: str, rows: Sequence[tuple[str, Decimal, str]], color: str,
                value_labels: Sequence[str]) -> str:
    """One horizontal bar per (name, value, tip), in the given order, from a zero line (negative to the left)."""
    row_h, label_w, width, value_w = 26, 130, 400, 70
    height = max(len(rows), 1) * row_h + 8
    out = [f"<svg data-chart=\"{esc(chart_id)}\" viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" "
           f"aria-label=\"{esc(label)}\"><title>{esc(label)}</title>"]
    values = [v for _, v, _ in rows]
    lo, hi = min(min(values, default=Decimal(0)), Decimal(0)), max(max(values, default=Decimal(0)), Decimal(0))
    span = (hi - lo) or Decimal(1)
    plot_w = Decimal(width - label_w - value_w)
    zero = Decimal(label_w) + plot_w * (-lo) / span
    out.append(f"<line class=\"zero\" x1=\"{_px(zero)}\" x2=\"{_px(zero)}\" y1=\"2\" y2=\"{height - 4}\"/>")
    for r, ((name, value, tip), text) in enumerate(zip(rows, value_labels)):
        y = 4 + r * row_h
        shown = name if len(name) <= 20 else name[:19] + "…"
        out.append(f"<text class=\"cat\" x=\"{label_w - 8}\" y=\"{y + 13}\" text-anchor=\"end\">{esc(shown)}</text>")
        w = plot_w * abs(value) / span
        x = zero if value >= 0 else zero - w
        fill = color if value >= 0 else NEGATIVE_COLOR
        out.append(f"<rect x=\"{_px(x)}\" y=\"{y + 2}\" width=\"{_px(max(w, Decimal('0.5')))}\" height=\"16\" "
                   f"fill=\"{fill}\"><title>{esc(tip)}</title></rect>")
        out.append(f"<text class=\"val\" x=\"{_px(max(zero, x + w) + 6)}\" y=\"{y + 14}\">{esc(text)}</text>")
    out.append("</svg>")
    return "".join(out)


def line_chart(chart_id: str, label: str, categories: Sequence[tuple[str, str]], values: Sequence[Decimal],
               tips: Sequence[str], color: str, below_color: str = NEGATIVE_COLOR) -> str:
    """A line with a point per category, the area to zero shaded (above: deferred, below: unbilled)."""
    scale = _Scale(values)
    band = Decimal(W - LEFT - RIGHT) / max(len(categories), 1)
    out = _frame(chart_id, label, scale, categories, band)
    pts = [(Decimal(LEFT) + band * i + band / 2, scale.y(v)) for i, v in enumerate(values)]
    zero = _px(scale.y(Decimal(0)))
    if pts:
        area = " ".join(f"{_px(x)},{_px(y)}" for x, y in pts)
        polygon = f"{_px(pts[0][0])},{zero} {area} {_px(pts[-1][0])},{zero}"
        above, below = f"{chart_id}-above", f"{chart_id}-below"
        out.append(f"<defs><clipPath id=\"{esc(above)}\"><rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{zero}\"/></clipPath>"
                   f"<clipPath id=\"{esc(below)}\"><rect x=\"0\" y=\"{zero}\" width=\"{W}\" height=\"{H}\"/></clipPath></defs>")
        out.append(f"<polygon class=\"area\" points=\"{polygon}\" fill=\"{color}\" clip-path=\"url(#{esc(above)})\"/>")
        out.append(f"<polygon class=\"area\" points=\"{polygon}\" fill=\"{below_color}\" clip-path=\"url(#{esc(below)})\"/>")
        out.append(f"<polyline points=\"{area}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>")
    for (x, y), v, tip in zip(pts, values, tips):
        fill = color if v >= 0 else below_color
        out.append(f"<circle cx=\"{_px(x)}\" cy=\"{_px(y)}\" r=\"3.5\" fill=\"{fill}\"><title>{esc(tip)}</title></circle>")
    out.append("</svg>")
    return "".join(out)


def status_chart(chart_id: str, label: str, counts: dict[str, dict[str, int]], statuses: Sequence[str]) -> str:
    """One horizontal bar per object type, split by status, as shares of that type's objects."""
    row_h, label_w, width = 34, 140, 560
    height = max(len(counts), 1) * row_h + 12
    out = [f"<svg data-chart=\"{esc(chart_id)}\" viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" "
           f"aria-label=\"{esc(label)}\"><title>{esc(label)}</title>"]
    if not counts:
        out.append(f"<text class=\"tick\" x=\"8\" y=\"24\">No objects to sync.</text>")
    plot_w = Decimal(width - label_w - 60)
    for r, (otype, by_status) in enumerate(counts.items()):
        y = 6 + r * row_h
        total = sum(by_status.values())
        out.append(f"<text class=\"cat\" x=\"{label_w - 8}\" y=\"{y + 14}\" text-anchor=\"end\">"
                   f"{esc(otype.replace('_', ' '))}</text>")
        x = Decimal(label_w)
        for s in statuses:
            n = by_status.get(s, 0)
            if not n:
                continue
            w = plot_w * n / total
            out.append(f"<rect x=\"{_px(x)}\" y=\"{y + 2}\" width=\"{_px(w)}\" height=\"20\" fill=\"{STATUS_COLORS[s]}\">"
                       f"<title>{esc(otype)}: {n:,} {esc(s)}</title></rect>")
            x += w
        out.append(f"<text class=\"val\" x=\"{_px(x + 6)}\" y=\"{y + 16}\">{total:,}</text>")
    out.append("</svg>")
    return "".join(out)


_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light"><title>{title}</title>
<style>
:root { color-scheme: light; }
body { margin: 0; background: #f6f7f9; color: #1f2328; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 48px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
.sub { margin: 0 0 8px; color: #57606a; }
h2 { font-size: 18px; margin: 28px 0 4px; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 0 0 6px; }
.note { color: #57606a; margin: 4px 0 10px; }
.muted { color: #57606a; font-weight: normal; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 14px; }
.grid.two { grid-template-columns: minmax(360px, 1.2fr) minmax(320px, 1fr); }
.card { background: #fff; border: 1px solid #d0d7de; border-radius: 6px; padding: 12px 14px; }
table { border-collapse: collapse; background: #fff; border: 1px solid #d0d7de; }
th, td { padding: 5px 10px; border-bottom: 1px solid #eaeef2; text-align: left; vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
.card table { border: none; width: 100%; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code.id { font-size: 11px; color: #57606a; background: none; padding: 0; }
.small { font-size: 11px; }
table.compact th, table.compact td { padding: 4px 6px; }
td.err { color: #8a1c1c; max-width: 520px; }
table.failed { width: 100%; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #eef1f5; padding: 1px 4px; border-radius: 3px; }
.legend { margin: 0 0 4px; color: #57606a; font-size: 12px; }
.legend span { margin-right: 14px; white-space: nowrap; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 5px; border-radius: 2px; vertical-align: -1px; }
.empty { color: #57606a; font-style: italic; }
.ok { color: #2e7d32; font-weight: 600; }
ul.files { margin: 6px 0; padding-left: 20px; }
svg { display: block; font-size: 11px; }
svg .gl { stroke: #eaeef2; stroke-width: 1; }
svg .zero { stroke: #8c959f; stroke-width: 1; }
svg .tick, svg .cat { fill: #57606a; }
svg .cat.sub { fill: #8c959f; }
svg .val { fill: #1f2328; font-size: 10px; }
svg .area { opacity: 0.15; }
</style></head><body><main>"""
