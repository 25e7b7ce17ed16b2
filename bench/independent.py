"""An independent labelled benchmark: scenario families the detector was not tuned on.

Each family is a seeded generator of cost series (hourly or daily) with labelled
anomalies. The data goes to a CSV, a config with a ``csv`` source reads it, and
``alerter backtest --json`` replays it through the rule file(s) exactly as a user would;
the incidents it opens are scored against the labels.

Scoring (per family and pooled):

- A label (series, kind, start, end) is caught when an incident of that series opens
  (its first anomalous window) within ``[start, start + tolerance)``. Tolerance: hourly,
  12 h for spikes, level shifts, drops and new spend, 24 h for ramps; daily, 2 days for
  spikes, 4 for level shifts, drops and new spend, 7 for ramps. For every kind but
  spikes and new spend it is stretched to reach the third "active" window of the label
  (a window whose normal cost is at least 30 % of the series' typical amount), so a
  series that costs only at night has a chance to show it.
- An incident opening inside a label's window ``[start, max(end, start + tolerance))``
  of its series is not a false alert (a late or repeated alert about the same event);
  any other incident is a false alert. Several incidents inside one window count once.
- precision = caught / (caught + false alerts); recall = caught / labels.
- Detection delay: first anomalous window of the catching incident minus the label start.
- Warm-up: the first 3 weeks (hourly) or 8 weeks (daily) hold no label; incidents that
  open there are ignored and reported apart, and false alerts per 100 series-weeks count
  only the weeks after it. (A probe of isolated 10x spikes, one series per start day,
  finds the first alert of bench/rules/cost-hourly.toml on day 21 and of cost-daily.toml on
  day 44: the rules' own warm-up fits inside these.)

Families come in groups. The tuning group (issue16, heavy_tails, cycles, sparse,
calendar, trends, daily_calendar, daily_heavy) runs by default. The held-out group
(``held_out=True``; ``--held-out`` runs it) was written from what cloud cost exports look
like, without reading the detectors or their rules; report on it, never tune on it:

- saas_customers (hourly): per-customer usage of a SaaS product. Levels log-uniform over
  4 orders of magnitude (5 .. 50,000 an hour), a daily curve from the customer's office
  hours in its own time zone (local weekends at 0.3-1.0), multiplicative noise with log
  sigma 0.3 for the smallest accounts down to 0.05 for the largest, growth or churn of
  +30 / -15 %, and 3 export outages of 1-6 hours (no series has a row: unknown).
- infra_skus (hourly): a SKU's committed spend (reserved capacity, savings plans: flat,
  log sigma 0.2-1 %; 15 % of the SKUs are commitment only, exactly constant) plus an
  autoscaled part counted in whole instances that follows the day's load; 2-5 deploys
  resize it by -15 .. +20 % without a label. Labelled level shifts are 40-80 %.
- batch_ml (hourly): training runs on a low floor (2-10 % of a run's cost); 60 % of the
  series retrain every 1-3 days (jittered), the rest run ad hoc experiments at irregular
  times. Spike = a run 3-10x its usual cost, level_up = a runaway job that never stops
  (labelled from the first hour longer than any earlier run), drop = 1-3 scheduled runs
  that do not happen; level_down, ramp and new spend as in every family.
- storage (hourly): storage cost growing 0.5-4 % a week (compounding or linear) with log
  noise of 0.2-2 %, a daily lifecycle sawtooth of 0.5-2 % in 40 % of the series, 2
  export outages of 1-4 hours. Labels: steps up and down, accelerating growth (ramp), new buckets,
  rarely a spike (a temporary copy); no drops.
- daily_invoices (daily): usage with weekends and public holidays, a year-end slump
  (24 Dec - 2 Jan at 0.4-0.8), invoice-day items that are not anomalies (a fee of 0.5-5
  days of usage on the 1st or on a contract day of the series' own, a monthly credit that
  takes the 1st down to 0.3-0.7).

The fresh group (``--fresh``; held out, yet in neither list above) was written later in
the same way, from cloud billing alone, without reading the detectors, their rules or any
score of theirs, and committed before its first run:

- k8s_namespaces (hourly): a namespace's allocated share of a shared Kubernetes cluster.
  Whole nodes (4-40 at peak, at least 2) follow the day's load, added at once and removed
  an hour later, a mid-hour change billing part of the hour; 0-80 % spot nodes whose price
  walks 1-3 %/h inside +-20 %; other tenants scale the cluster out by 20-60 % for 1-3 h,
  1-4 times a week; the namespace's share drifts 1-4 % a day inside +-30 %. None of it
  is labelled.
- egress_cdn (hourly): internet egress or CDN transfer, 40-600 TB a month with an
  evening peak, weekends at 0.8-1.4 and heavy-tailed bursts (AR(1) Student-t, below
  1.9x), priced by per-GB list tiers of the month's running total: the same traffic
  costs less as the month goes on and more again from 00:00 on the 1st (up to 1.8x for
  egress, 2.8x for the CDN), which is not an anomaly. Anomalies change the traffic; the
  tiers price it.
- spot_gpu (hourly): 3-16 spot GPU instances at 30-70 % of on-demand, the price walking
  1-4 %/h inside +-25 %; 30 % of the fleets follow the day in whole instances; 2-4
  unlabelled resizes of one instance or up to 30 %; capacity reclaims 0.5-2 times a week
  leave 1-4 h at zero (the hours either side billed in part), and single instances are
  reclaimed for 1-4 h 1-3 times a week.
- db_serverless (hourly): a query engine billed per query: a compound Poisson of 30-3,000
  queries at the busiest hour (lognormal cost each) over a floor of dashboards, large ad
  hoc queries, a nightly ETL window of 1-4 h at 1-4x (one night in five an hour longer),
  Monday-morning reports and month-start reports (the first weekday) at 1-3x.
- daily_marketplace (daily): usage with weekends and holidays, commitments amortised per
  day, a monthly subscription spread over its month's days (February's days cost more), a
  metered marketplace line on a fixed day (1st-5th, 1-6 days of usage) in 40 % of the
  series and a yearly true-up (2-6 days of usage) inside the span in 10 %.

The sealed group (``--sealed``; held out, in no other list) was written last, in the same
way, from cloud billing alone, without reading the detectors, their rules or any score,
and committed before any score of it was seen (its only runs, smoke tests, discarded their
output). It is run once, at the end, for the final report: never run it to choose
anything. Its anomalies are the kit's, but a spike costs exactly its labelled size (the
ratio of a quiet hour's cost to its expectation can be large here):

- llm_api (hourly): an app's per-token spend on a hosted LLM API. Users in 1-3 time zones
  (business tools: office hours, weekends 0.15-0.5; consumer apps: an evening peak,
  weekends 1.0-1.3) over a floor of 5-25 %; 300-30,000 requests at the busiest hour with
  lognormal token counts (log sigma 0.8-1.5), so quiet hours are much noisier; 40 % flat
  tops at a tokens-per-minute limit (80-100 % of the 98th-percentile hour, doubled once
  by a tier move in the second half in half of them); feature launches (+10-30 % over 6-24 h), prompt caching (-10 ..
  -25 % once), Batch API jobs (0.5-2 a week, 1-3 h, 0.3-0.8 of a typical hour).
- warehouse_credits (hourly): a data warehouse billed by the minute while awake (at least
  a minute per resume). Queries (5-600 at the busiest hour, office hours, weekends and in
  half the series holidays at 2-20 %) keep it awake for their run and a 1-10 min
  auto-suspend, so quiet hours cost a few minutes or nothing (a zero is a real zero);
  dashboard refreshes every 1-12 h in 80 %; a nightly load on a warehouse resized to 2x
  or 4x in 60 % (+-10 % a night); a second cluster at peak minutes in 30 %; a constant
  serverless background in half.
- log_ingest (hourly): log ingestion (per GB) plus retention of the last 7, 15 or 30 days
  (10-40 % of the bill, following volume changes over weeks). Verbosity steps of +-12 % at
  deploys, an exclusion filter (-15 .. -30 %) in 30 %, incident floods 2-5 times in four
  weeks (1-3 h at 1.4-1.9x), a rehydration of archived logs the next working day after a
  third of them (0.3-0.9 of a typical hour); all below a doubling of the hour's cost.
- serverless_fn (hourly): an account's functions. 75 % behind an API (a smooth bill, cold
  starts that make quiet hours dearer per call, timeouts at 1.3-1.8x for 1-4 h 1-3 times
  in four weeks, a move to arm64 at -18 % in 25 %, scheduled provisioned concurrency in
  30 %, a nightly fan-out over the previous day's records in 40 %, a 15-minute cron in
  half); 25 % cron only (every 15 min or hourly; half on weekday working hours alone,
  zero otherwise; a nightly batch of 1-3 h at 2-5x in a quarter).
- daily_bu_rollup (daily): a business unit's line of a reseller's multi-cloud invoice.
  Production every day, development stopped on weekends and holidays, amortised
  reservations, 0-50 % billed in another currency (a daily rate inside +-6 %), a
  month-end accrual of 1-4 days on the last day replaced on the 1st (-10 .. +15 % of it),
  a lapsed reservation in 20 % (+8-25 %, renewed after 5-20 days in half), credits on
  random days (0.5-2 a month in half the series, the day at 35-80 %).

The blind group (``--blind``; held out, in no other list) was written after all of the
above, in the same way, from cloud billing alone, without reading the detectors, their
rules, the benchmark's figures or any score, and committed before any score of it was
seen (nothing ran the benchmark on it). It is the honest test set: run it once, for the
final report, never to choose or tune anything. Its anomalies are the kit's, a spike
costing exactly its labelled size as in the sealed group:

- ci_runners (hourly): a repository's hosted CI minutes, each job billing whole minutes
  at its runner's price. Workflow runs from a team of 4-60 in one time zone follow a
  morning and an afternoon hump on local weekdays, with weekends and (in 70 %) holidays
  at 0-8 %; 5-20 % of runs miss the dependency cache (1.5-3x longer). A nightly build
  (0.4-2.5x the busiest hour) at a fixed UTC cron hour, every day or UTC weekdays only;
  in half, a weekly or fortnightly release day with a merge-queue storm (1.2-1.6x) and a
  release pipeline at local 15-17 h; in half, a dependency bot's uncached builds on
  Monday 05:00 UTC; 0-2 hires; a runner-class move in a quarter (+-10-25 %).
- streaming (hourly): a managed stream. Shard or broker hours bill flat whatever the
  traffic (40-90 % of the bill; on-demand streams 2-10 %), resharded by hand 0-3 times by
  at most a quarter (within +-30 % of the start) or, in a quarter of the shard streams, by
  a schedule to 1.5-2x on local weekday days, part hours billed at the change; per-GB
  throughput follows the traffic; retention billed per GB kept (3-14 days, or 30-365 days
  for 30 % of shard streams) grows through the span when the stream is younger than it;
  consumer replays (2-6 h) stay below a doubling.
- nat_lb (hourly): a NAT gateway or a load balancer: a flat hourly charge (5-50 %; 90-98 %
  for the 15 % nearly idle) plus per-GB processed or capacity units (the largest of new
  connections, active connections over a websocket floor, bytes and rule evaluations),
  following the traffic. Gateways carry nightly backup incrementals and in half of them a
  Sunday-night full backup (1-2.5x), image pulls at deploys and ad hoc batch pulls (below a
  doubling of the hour).
- desktops_vdi (hourly): virtual desktops billed while running. 10-300 users in one or
  two offices log in around local 07:30-09:30 on weekdays (attendance 75-92 %, Fridays
  lower, holidays closed in 70 %). Personal desktops (60 %) stop 1-2 idle hours after
  the user leaves and bill each hour touched, whole, with monthly fees (always-on desktops
  and the stopping desktops' infrastructure fee) in the month's first window and a
  monthly maintenance start of each stopped desktop on one of 14 nights from the third
  Monday; pooled session hosts (40 %) follow a scaling plan (a minimum of 10-40 % of the
  hosts from the ramp-up at 06-08 h to the ramp-down at 18-20 h on weekdays, whole hosts
  for the users logged in, billed by the second).
- daily_account_services (daily): one service line of an account's daily billing
  export: compute under a savings plan (flat at the commitment on quiet days, on-demand
  usage above it; a top-up in 30 %), metered services (a monthly charge on the 1st in
  40 %), the support plan's tiered percentage of the previous month's spend on the 1st
  only, tax (on the 1st for the previous month, or daily with the spend), amortised
  commitments (exactly flat, a renewal at +-8-20 % in 30 %) or a reservation's monthly
  fee on the 1st (by the month's hours); a refund day (40-80 %) in a third of the
  compute and metered lines.

The audit group (``--audit``; held out, in no other list) was written after the blind
group, in the same way, from how cloud and SaaS bills behave, without reading the
detectors, their rules, the benchmark's figures or any score, and committed before any
score of it was seen (nothing ran the benchmark or a backtest on it). Like the blind
group it is for the final report only: run it once, never to choose or tune anything.
Its anomalies are the kit's, a spike costing exactly its labelled size:

- search_cluster (hourly): a managed search domain. 70 % provisioned (2-30 data nodes and
  in 60 % dedicated masters, flat per node-hour; 0-3 resizes by at most a quarter or
  updates, each a blue/green deployment billing both clusters for 1-4 hours, below
  1.95x; a warm tier per GB of the last 30-90 days in half); 30 % serverless (capacity
  units following indexing and queries in half units over a minimum, held 1-3 hours,
  plus storage of the last 7-30 days). Loads follow one American or European zone's
  local day through its daylight-saving change.
- payments_fees (hourly): a merchant's card fees (percentage plus a fixed fee per
  transaction, foreign cards, fraud screening) over a compound Poisson of sales. Retail
  (lunch and evening peaks, paydays on the 1st and 15th, Black Friday at 1.5-1.9, its
  weekend and Cyber Monday), food delivery in 1-3 cities' zones (lunch and dinner,
  wet days), subscriptions (a daily billing run at a UTC hour, 1.3-1.8x on the 1st,
  retries); local clocks move at DST (25 October in Europe, 1 November in America);
  quiet hours may bill nothing; a negotiated rate in 20 %; disputes.
- iot_fleet (hourly): an IoT fleet's messages in 5 KB blocks at tiers of the month's
  running count (cheaper from a billion on, up to 1.25x again on the 1st), connection
  minutes and rule actions. Telemetry at fixed intervals with diagnostic uploads, smart
  homes (Poisson events on the household's day), vehicle trackers (only while driving:
  small fleets' nights are real zeros); monthly shipments of new devices (+1-6 % each),
  staged firmware rollouts (-20 .. +20 %, some rolled back), outages with a buffered
  flush below 1.8x.
- media_transcode (hourly): video transcoding per output minute of a rendition ladder,
  through a queue that spreads batches over hours. User uploads (a heavy-tailed
  compound Poisson on a consumer day), studios (weekly or fortnightly shows at fixed
  local slots, a few late, off air over the year end, a news feed, a catalogue
  migration of +10-20 %), e-learning (weekday office hours, nights mostly zero);
  reserved slots with on-demand overflow in 20 %.
- daily_gcp_projects (daily): a project's net line in a daily export by project:
  production, data (on-demand queries whose monthly free TiB makes the month's first
  days cheaper) and sandboxes (stopped on weekends and holidays, half to zero);
  sustained-use discounts (0-50 % of the compute) that grow through the month and reset
  on the 1st, committed-use fees (a purchase in the span at most -22 %), growing
  storage, a promotional credit of 10-20 % that expires in 20 %.

Labels in every family use the same kinds and the same magnitudes: spikes 3-10x the
typical window (the run, for batch_ml), level shifts of 40-80 %, ramps to 2-4x over 1-3
days (3-10 days daily), drops to at most 30 % (or a missing run), new spend. An export outage
(hours in which no series has a row; the CSV is split around it, so the source does not
cover those hours) stretches the tolerance of a label it overlaps by the hours it hides.
Inside hours the export covers, a series without a row spent zero (the product's
contract), so per-series gaps are not generated.

Run: ``python bench/independent.py [--seed N] [--families a,b | --held-out | --fresh |
--sealed | --blind | --audit] [--series N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.heldout_audit import shape_payments, shape_search
from bench.heldout_audit_daily import shape_gcp_project
from bench.heldout_audit_fleet import shape_iot, shape_media
from bench.heldout_blind import (
    shape_ci_runners,
    shape_desktops_vdi,
    shape_nat_lb,
    shape_streaming,
)
from bench.heldout_blind_daily import shape_account_services
from bench.heldout_fresh import (
    inject_egress,
    shape_db_serverless,
    shape_egress,
    shape_k8s,
    shape_marketplace,
    shape_spot_gpu,
)
from bench.heldout_sealed import (
    inject_sealed,
    shape_bu_rollup,
    shape_llm_api,
    shape_log_ingest,
    shape_serverless,
    shape_warehouse,
)
from bench.heldout_shapes import (
    inject_batch,
    shape_batch,
    shape_infra,
    shape_invoices,
    shape_saas,
    shape_storage,
)
from bench.scenario_kit import (
    HOLIDAYS,
    KINDS,
    Calendar,
    Dataset,
    Family,
    Label,
    Shape,
    diurnal_curve,
    generate,
    intermittent_mask,
    log_noise,
    t_noise,
    typical_level,
    weekend_factor,
    zero_inflation,
)

ROOT = Path(__file__).resolve().parent.parent
HOURLY_RULES = ROOT / "bench" / "rules" / "cost-hourly.toml"
DAILY_RULES = ROOT / "bench" / "rules" / "cost-daily.toml"


@dataclass(frozen=True)
class Incident:
    series: str
    window: int  # index of the incident's first anomalous window
    rule: str


@dataclass
class Score:
    series: int = 0
    labels: int = 0
    caught: int = 0
    false_alerts: int = 0
    inside: int = 0  # late or repeated incidents inside a label window
    late: int = 0  # labels missed at their tolerance but alerted later inside their window
    warmup_incidents: int = 0
    series_weeks: float = 0.0
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [caught, labels]
    delays: dict[str, list[float]] = field(default_factory=dict)  # kind -> hours

    def add(self, other: Score) -> None:
        self.series += other.series
        self.labels += other.labels
        self.caught += other.caught
        self.false_alerts += other.false_alerts
        self.inside += other.inside
        self.late += other.late
        self.warmup_incidents += other.warmup_incidents
        self.series_weeks += other.series_weeks
        for kind, (hit, n) in other.by_kind.items():
            row = self.by_kind.setdefault(kind, [0, 0])
            row[0] += hit
            row[1] += n
        for kind, hours in other.delays.items():
            self.delays.setdefault(kind, []).extend(hours)

    @property
    def precision(self) -> float:
        judged = self.caught + self.false_alerts
        return self.caught / judged if judged else 1.0

    @property
    def recall(self) -> float:
        return self.caught / self.labels if self.labels else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_per_100_series_weeks(self) -> float:
        return 100 * self.false_alerts / self.series_weeks if self.series_weeks else 0.0


def score(
    labels: Sequence[Label],
    incidents: Iterable[Incident],
    *,
    series: int,
    warmup: int,
    windows: int,
    step: timedelta,
) -> Score:
    """Match incidents to labels (see the module docstring); ``warmup`` and ``windows`` are
    window counts, ``series`` the number of series judged."""
    hours = step / timedelta(hours=1)
    incidents = list(incidents)
    out = Score(series=series, labels=len(labels))
    out.series_weeks = series * (windows - warmup) * step / timedelta(weeks=1)
    by_series: dict[str, list[Label]] = {}
    for label in labels:
        by_series.setdefault(label.series, []).append(label)
        out.by_kind.setdefault(label.kind, [0, 0])[1] += 1
    first_hit: dict[Label, int] = {}
    seen: set[Label] = set()
    for inc in incidents:
        if inc.window < warmup:
            out.warmup_incidents += 1
            continue
        inside = False
        for label in by_series.get(inc.series, []):
            if label.start <= inc.window < max(label.end, label.start + label.tolerance):
                inside = True
                seen.add(label)
                if inc.window < label.start + label.tolerance:
                    prior = first_hit.get(label)
                    first_hit[label] = inc.window if prior is None else min(prior, inc.window)
        if not inside:
            out.false_alerts += 1
    for label, window in first_hit.items():
        out.caught += 1
        out.by_kind[label.kind][0] += 1
        out.delays.setdefault(label.kind, []).append((window - label.start) * hours)
    out.late = len(seen) - len(first_hit)
    matched = sum(1 for inc in incidents if inc.window >= warmup) - out.false_alerts
    out.inside = matched - out.caught
    return out


def shape_issue16(rng: np.random.Generator, cal: Calendar) -> Shape:
    n = cal.windows
    trend = 1 + rng.uniform(0, 0.2) * cal.frac
    normal = (
        typical_level(rng, cal)
        * trend
        * diurnal_curve(rng, cal, 0.5)
        * weekend_factor(cal, rng.uniform(0.5, 1.0))
    )
    zero = rng.random() < 0.2
    mask = zero_inflation(rng, n, 0.3, 0.8) if zero else np.ones(n)
    return Shape(normal, mask, log_noise(rng, n, rng.uniform(0.02, 0.25)))


def shape_heavy(rng: np.random.Generator, cal: Calendar) -> Shape:
    n = cal.windows
    normal = (
        typical_level(rng, cal)
        * (1 + rng.uniform(-0.1, 0.2) * cal.frac)
        * diurnal_curve(rng, cal, 0.4)
        * weekend_factor(cal, rng.uniform(0.5, 1.0))
    )
    noise = t_noise(rng, n, rng.uniform(2.5, 5), rng.uniform(0.03, 0.12), rng.uniform(0, 0.6))
    # harmless single-window blips below 2x, about 1.5 a week (hourly) / 1 a month (daily)
    rate = 1.5 / 168 if cal.hourly else 1 / 30
    blips = rng.random(n) < rate
    # a blip on a window already high stays below 2x too (the first run let the product
    # reach 3.6x: unlabelled doublings, against this family's own definition)
    noise = np.minimum(noise * np.where(blips, rng.uniform(1.3, 1.9, n), 1.0), 1.9)
    if not cal.hourly and rng.random() < 0.3:  # daily: some intermittent series
        mask = intermittent_mask(rng, n, rng.uniform(5, 20), rng.uniform(1, 4))
    else:
        mask = np.ones(n)
    return Shape(normal, mask, noise)


def shape_daily_cycles(rng: np.random.Generator, cal: Calendar) -> Shape:
    """Business hours only, a nightly batch job at a fixed hour, or two daily peaks."""
    n = cal.windows
    level = typical_level(rng, cal)
    local = (cal.hour + int(rng.integers(-8, 10))) % 24
    weekend = cal.weekday >= 5
    pick = rng.integers(3)
    if pick == 0:  # business hours, local 08-18 on weekdays
        on = (local >= 8) & (local < 18) & ~weekend
        off_level = rng.uniform(0.02, 0.1)
        curve = np.where(on, 1.0, np.where(weekend, rng.uniform(0.05, 0.3), off_level))
    elif pick == 1:  # background plus a nightly batch job of 1-3 h at a fixed hour
        begin, length = int(rng.integers(0, 6)), int(rng.integers(1, 4))
        job = ((local - begin) % 24) < length
        curve = np.where(job, rng.uniform(5, 20), 1.0) * weekend_factor(cal, rng.uniform(0.6, 1.0))
    else:  # two peaks (morning and evening), a floor in between
        p1, p2 = rng.uniform(7, 11), rng.uniform(17, 22)
        w1, w2 = rng.uniform(1.5, 3), rng.uniform(1.5, 3)
        curve = 0.3 + np.exp(-0.5 * ((local - p1) / w1) ** 2)
        curve = curve + rng.uniform(0.5, 1.2) * np.exp(-0.5 * ((local - p2) / w2) ** 2)
        curve = curve * weekend_factor(cal, rng.uniform(0.5, 1.0))
    normal = level * curve * (1 + rng.uniform(0, 0.15) * cal.frac)
    return Shape(normal, np.ones(n), log_noise(rng, n, rng.uniform(0.03, 0.15)))


def shape_sparse(rng: np.random.Generator, cal: Calendar) -> Shape:
    """Batch jobs that cost only a few hours a day, intermittent runs, or random zeros."""
    n = cal.windows
    level = typical_level(rng, cal) * 3
    pick = rng.integers(3)
    if pick == 0:
        begin, length = int(rng.integers(0, 24)), int(rng.integers(1, 5))
        mask = (((cal.hour - begin) % 24) < length).astype(float)
        if rng.random() < 0.4:
            mask = mask * (cal.weekday < 5)
    elif pick == 1:
        mask = intermittent_mask(rng, n, rng.uniform(3, 12), rng.uniform(6, 48))
    else:
        mask = zero_inflation(rng, n, 0.5, 0.9)
    normal = np.full(n, level) * (1 + rng.uniform(0, 0.2) * cal.frac)
    return Shape(normal, mask, log_noise(rng, n, rng.uniform(0.05, 0.25)))


def shape_calendar(rng: np.random.Generator, cal: Calendar) -> Shape:
    """Month-start billing (a fee in the first window of the month, or a heavier first day)
    and public holidays that look like a Sunday: neither is an anomaly."""
    n = cal.windows
    level = typical_level(rng, cal)
    holidays = cal.on_dates(HOLIDAYS)
    normal = (
        level
        * (1 + rng.uniform(-0.1, 0.2) * cal.frac)
        * diurnal_curve(rng, cal, 0.5)
        * weekend_factor(cal, rng.uniform(0.3, 1.0), holidays)
    )
    first_day = cal.day_of_month == 1
    pick = rng.random()
    if pick < 0.5:  # a fee in the month's first window
        fee = np.zeros(n)
        first_window = first_day & ((cal.hour == 0) if cal.hourly else True)
        per_day_level = level * cal.per_day
        fee[first_window] = rng.uniform(0.2, 2.0) * per_day_level
        normal = normal + fee
    elif pick < 0.75:  # quotas reset: the first day costs more
        normal = normal * np.where(first_day, rng.uniform(1.5, 2.5), 1.0)
    mask = zero_inflation(rng, n, 0.2, 0.5) if rng.random() < 0.1 else np.ones(n)
    return Shape(normal, mask, log_noise(rng, n, rng.uniform(0.02, 0.15)))


def shape_trends(rng: np.random.Generator, cal: Calendar) -> Shape:
    """Slow linear trends, compounding growth, a gradual adoption curve, a slow decline."""
    n = cal.windows
    frac = cal.frac
    pick = rng.integers(4)
    if pick == 0:
        trend = 1 + rng.uniform(-0.3, 0.6) * frac
    elif pick == 1:
        weeks = cal.windows * cal.step / timedelta(weeks=1)
        trend = (1 + rng.uniform(0.01, 0.04)) ** (frac * weeks)
    elif pick == 2:  # +20..50 % over 2-4 weeks, centred somewhere in the span
        days = cal.windows * cal.step / timedelta(days=1)
        width = rng.uniform(14, 28) / days
        centre = rng.uniform(0.3, 0.8)
        trend = 1 + rng.uniform(0.2, 0.5) / (1 + np.exp(-(frac - centre) * 8 / width))
    else:
        trend = 1 - rng.uniform(0.1, 0.3) * frac
    normal = typical_level(rng, cal) * trend * diurnal_curve(rng, cal, 0.4)
    normal = normal * weekend_factor(cal, rng.uniform(0.5, 1.0))
    return Shape(normal, np.ones(n), log_noise(rng, n, rng.uniform(0.03, 0.2)))


H, D = timedelta(hours=1), timedelta(days=1)
FRESH_FAMILIES = [
    Family(
        "k8s_namespaces",
        "fresh: a namespace's share of a cluster in whole autoscaled nodes, spot prices, "
        "short scale-outs",
        shape_k8s,
        datetime(2026, 5, 18, tzinfo=UTC),
        H,
        8,
        held_out=True,
    ),
    Family(
        "egress_cdn",
        "fresh: bursty transfer priced by monthly per-GB tiers (cheaper through the month, "
        "back up on the 1st)",
        shape_egress,
        datetime(2026, 6, 22, tzinfo=UTC),
        H,
        8,
        held_out=True,
        inject=inject_egress,
    ),
    Family(
        "spot_gpu",
        "fresh: spot GPU fleets, price walk, capacity reclaims of 1-4 h at zero, resizes",
        shape_spot_gpu,
        datetime(2026, 1, 26, tzinfo=UTC),
        H,
        8,
        held_out=True,
    ),
    Family(
        "db_serverless",
        "fresh: per-query billing, nightly ETL, Monday and month-start reports",
        shape_db_serverless,
        datetime(2026, 8, 24, tzinfo=UTC),
        H,
        8,
        held_out=True,
    ),
    Family(
        "daily_marketplace",
        "fresh, daily: amortised commitments and subscriptions, metered and true-up lines",
        shape_marketplace,
        datetime(2026, 1, 5, tzinfo=UTC),
        D,
        30,
        held_out=True,
    ),
]
"""The fresh group (``--fresh``): held out (``held_out=True``) yet in neither TUNING nor
HELD_OUT, never run before it was committed."""
SEALED_FAMILIES = [
    Family(
        "llm_api",
        "sealed: per-token LLM API spend, users in 1-3 time zones, heavy-tailed requests, "
        "rate-limit plateaus, launches, batch jobs",
        shape_llm_api,
        datetime(2026, 2, 2, tzinfo=UTC),
        H,
        8,
        held_out=True,
        inject=inject_sealed,
    ),
    Family(
        "warehouse_credits",
        "sealed: a data warehouse billed by the minute while awake, auto-suspend, "
        "dashboard refreshes, a resized nightly load, a second cluster at peaks",
        shape_warehouse,
        datetime(2026, 3, 30, tzinfo=UTC),
        H,
        8,
        held_out=True,
        inject=inject_sealed,
    ),
    Family(
        "log_ingest",
        "sealed: log ingestion and retention, incident floods below 2x, verbosity steps, "
        "rehydrations",
        shape_log_ingest,
        datetime(2026, 7, 27, tzinfo=UTC),
        H,
        8,
        held_out=True,
        inject=inject_sealed,
    ),
    Family(
        "serverless_fn",
        "sealed: serverless functions, cold starts, timeouts, provisioned concurrency, "
        "crons and a nightly fan-out over the day before",
        shape_serverless,
        datetime(2026, 9, 28, tzinfo=UTC),
        H,
        8,
        held_out=True,
        inject=inject_sealed,
    ),
    Family(
        "daily_bu_rollup",
        "sealed, daily: a business unit's line of a reseller's multi-cloud invoice, "
        "month-end accruals, credits, FX, lapsed reservations",
        shape_bu_rollup,
        datetime(2026, 3, 9, tzinfo=UTC),
        D,
        30,
        held_out=True,
        inject=inject_sealed,
    ),
]
"""The sealed group (``--sealed``): held out yet in no other list, committed before its
first run and run once, for the final report."""
BLIND_FAMILIES = [
    Family(
        "ci_runners",
        "blind: hosted CI minutes, working-hours pushes, cache misses, a nightly build at a "
        "UTC cron hour, release trains, a dependency bot",
        shape_ci_runners,
        datetime(2026, 4, 20, tzinfo=UTC),
        H,
        8,
        held_out=True,
        inject=inject_sealed,
    ),
    Family(
        "streaming",
        "blind: managed streaming, flat shard or broker hours, reshards and scheduled "
        "scaling, per-GB throughput, retention storage",
        shape_streaming,
        datetime(2026, 6, 8, tzinfo=UTC),
        H,
        8,
        held_out=True,
        inject=inject_sealed,
    ),
    Family(
        "nat_lb",
        "blind: NAT gateways and load balancers, a flat hourly charge plus GB or capacity "
        "units, backups and pulls",
        shape_nat_lb,
        datetime(2026, 10, 19, tzinfo=UTC),
        H,
        8,
        held_out=True,
        inject=inject_sealed,
    ),
    Family(
        "desktops_vdi",
        "blind: virtual desktops by the hour, office hours in 1-2 time zones, auto-stop, "
        "monthly fees, maintenance nights, pooled hosts",
        shape_desktops_vdi,
        datetime(2026, 3, 16, tzinfo=UTC),
        H,
        8,
        held_out=True,
        inject=inject_sealed,
    ),
    Family(
        "daily_account_services",
        "blind, daily: an account's service lines, savings plans, support and tax on the "
        "1st, amortised commitments, refunds",
        shape_account_services,
        datetime(2026, 1, 19, tzinfo=UTC),
        D,
        30,
        held_out=True,
        inject=inject_sealed,
    ),
]
"""The blind group (``--blind``): held out yet in no other list, committed before any
score of it was seen; run once, for the final report, never tuned on."""
AUDIT_FAMILIES = [
    Family(
        "search_cluster",
        "audit: a managed search domain, flat node-hours with blue/green resizes, warm "
        "storage, or serverless capacity units in half steps; local clocks through DST",
        shape_search,
        datetime(2026, 2, 9, tzinfo=UTC),
        H,
        8,
        held_out=True,
        inject=inject_sealed,
    ),
    Family(
        "payments_fees",
        "audit: card fees per transaction (compound Poisson), paydays, Black Friday, "
        "food delivery across zones, subscription billing runs; DST in Europe and America",
        shape_payments,
        datetime(2026, 10, 12, tzinfo=UTC),
        H,
        8,
        held_out=True,
        inject=inject_sealed,
    ),
    Family(
        "iot_fleet",
        "audit: IoT messages in 5 KB blocks at monthly tiers, telemetry, smart homes, "
        "trackers, device shipments, staged firmware rollouts, outages and flushes",
        shape_iot,
        datetime(2026, 8, 31, tzinfo=UTC),
        H,
        8,
        held_out=True,
        inject=inject_sealed,
    ),
    Family(
        "media_transcode",
        "audit: transcoding per output minute through a queue, user uploads, weekly and "
        "fortnightly shows, e-learning, reserved slots, the year end",
        shape_media,
        datetime(2026, 11, 16, tzinfo=UTC),
        H,
        8,
        held_out=True,
        inject=inject_sealed,
    ),
    Family(
        "daily_gcp_projects",
        "audit, daily: a project's line in a daily export, sustained-use discounts through "
        "the month, committed use, free query tier, sandboxes, expiring credits",
        shape_gcp_project,
        datetime(2026, 4, 27, tzinfo=UTC),
        D,
        30,
        held_out=True,
        inject=inject_sealed,
    ),
]
"""The audit group (``--audit``): held out yet in no other list, written after the blind
group and committed before any score of it was seen; run once, for the final report,
never tuned on."""
FAMILIES = {
    f.name: f
    for f in [
        Family(
            "issue16",
            "issue 16's set as described",
            shape_issue16,
            datetime(2026, 3, 2, tzinfo=UTC),
            H,
            8,
        ),
        Family(
            "heavy_tails",
            "Student-t log noise, AR(1), blips < 2x",
            shape_heavy,
            datetime(2026, 5, 4, tzinfo=UTC),
            H,
            8,
        ),
        Family(
            "cycles",
            "business hours / nightly batch / two peaks",
            shape_daily_cycles,
            datetime(2026, 6, 1, tzinfo=UTC),
            H,
            8,
        ),
        Family(
            "sparse",
            "batch hours, intermittent runs, random zeros",
            shape_sparse,
            datetime(2026, 1, 12, tzinfo=UTC),
            H,
            8,
        ),
        Family(
            "calendar",
            "month-start billing, holidays",
            shape_calendar,
            datetime(2026, 2, 16, tzinfo=UTC),
            H,
            10,
        ),
        Family(
            "trends",
            "slow trends, growth, adoption curves",
            shape_trends,
            datetime(2026, 7, 6, tzinfo=UTC),
            H,
            10,
        ),
        Family(
            "daily_calendar",
            "daily: month starts, holidays, trends, zeros",
            shape_calendar,
            datetime(2025, 12, 29, tzinfo=UTC),
            D,
            30,
        ),
        Family(
            "daily_heavy",
            "daily: t noise, blips, intermittent",
            shape_heavy,
            datetime(2025, 12, 29, tzinfo=UTC),
            D,
            30,
        ),
        Family(
            "saas_customers",
            "held out: per-customer SaaS usage, 5-50,000/h, local office hours, "
            "log sigma 0.05-0.3, export outages",
            shape_saas,
            datetime(2026, 9, 7, tzinfo=UTC),
            H,
            8,
            held_out=True,
            outages=(3, 6),
        ),
        Family(
            "infra_skus",
            "held out: committed spend plus autoscaled instances, unlabelled deploy steps "
            "-15..+20 %",
            shape_infra,
            datetime(2026, 8, 3, tzinfo=UTC),
            H,
            8,
            held_out=True,
            kinds=(0.18, 0.22, 0.2, 0.1, 0.1, 0.2),
        ),
        Family(
            "batch_ml",
            "held out: scheduled or ad hoc training runs on a low floor; runaway jobs, "
            "missing runs, oversized runs",
            shape_batch,
            datetime(2026, 4, 13, tzinfo=UTC),
            H,
            8,
            held_out=True,
            kinds=(0.2, 0.25, 0.1, 0.1, 0.1, 0.25),
            inject=inject_batch,
        ),
        Family(
            "storage",
            "held out: storage growing 0.5-4 %/week, tiny noise, lifecycle sawtooth, "
            "export outages; steps up, accelerating growth",
            shape_storage,
            datetime(2026, 10, 5, tzinfo=UTC),
            H,
            8,
            held_out=True,
            kinds=(0.1, 0.3, 0.15, 0.3, 0.15, 0.0),
            outages=(2, 4),
        ),
        Family(
            "daily_invoices",
            "held out, daily: invoice-day fees and credits, holidays, year-end slump",
            shape_invoices,
            datetime(2025, 11, 3, tzinfo=UTC),
            D,
            30,
            held_out=True,
        ),
        *FRESH_FAMILIES,
        *SEALED_FAMILIES,
        *BLIND_FAMILIES,
        *AUDIT_FAMILIES,
    ]
}
FRESH = [family.name for family in FRESH_FAMILIES]
SEALED = [family.name for family in SEALED_FAMILIES]
BLIND = [family.name for family in BLIND_FAMILIES]
AUDIT = [family.name for family in AUDIT_FAMILIES]
HELD_OUT = [
    name
    for name, family in FAMILIES.items()
    if family.held_out and not {name} & {*FRESH, *SEALED, *BLIND, *AUDIT}
]
TUNING = [name for name, family in FAMILIES.items() if not family.held_out]


# ---------------------------------------------------------------------------------------
# Through the product: CSV + config -> `alerter backtest --json` -> incidents.


def _fmt(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_csv(data: Dataset, path: Path) -> list[Path]:
    """The data as CSV: one file, or one file per stretch between export outages (windows
    where every series is NaN): ``path``, then ``data-1.csv``, ``data-2.csv``, ... beside it."""
    stamps = [_fmt(data.start + i * data.step) for i in range(data.windows)]
    delivered = ~np.isnan(data.values).all(axis=0)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], delivered.astype(int), [0]])))
    written = []
    for k, (begin, end) in enumerate(zip(edges[::2], edges[1::2], strict=True)):
        target = path if k == 0 else path.with_name(f"{path.stem}-{k}{path.suffix}")
        with target.open("w", encoding="utf-8") as out:
            out.write("timestamp,series,amount\n")
            for name, row in zip(data.names, data.values, strict=True):
                out.writelines(
                    f"{stamps[i]},{name},{row[i]:.4f}\n"
                    for i in range(begin, end)
                    if not np.isnan(row[i])
                )
        written.append(target)
    return written


def write_config(folder: Path, rules: Sequence[Path], step: timedelta) -> Path:
    globs = ", ".join(json.dumps(str(r.resolve())) for r in rules)
    step_text = "1h" if step == timedelta(hours=1) else "1d"
    config = folder / "config.toml"
    config.write_text(
        f'[alerter]\nstate = "state.db"\nrules = [{globs}]\n\n'
        f'[sources.bench]\ntype = "csv"\npath = "data*.csv"\ndimensions = ["series"]\n'
        f'step = "{step_text}"\n',
        encoding="utf-8",
    )
    return config


def parse_incidents(lines: Iterable[str], data: Dataset) -> list[Incident]:
    """The incidents opened (``first`` events) in ``backtest --json`` output."""
    out = []
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        if record["event"] != "first":
            continue
        opened = datetime.fromisoformat(record["first_window"] or record["window_start"])
        window = int((opened - data.start) / data.step)
        out.append(Incident(record["group"]["series"], window, record["rule"]))
    return out


def run_backtest(data: Dataset, rules: Sequence[Path], folder: Path) -> list[Incident]:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(data, folder / "data.csv")
    config = write_config(folder, rules, data.step)
    end = data.start + data.windows * data.step
    env = dict(os.environ, ALERTER_CLOCK_START=(end + timedelta(days=1)).isoformat())
    env.pop("ALERTER_CLOCK_ORIGIN", None)
    cmd = [sys.executable, "-m", "alerter", "backtest", "--config", str(config), "--json"]
    cmd += ["--since", _fmt(data.start), "--until", _fmt(end)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder, check=False)
    if done.returncode != 0:
        raise SystemExit(f"backtest failed ({done.returncode}) in {folder}:\n{done.stderr}")
    (folder / "backtest.jsonl").write_text(done.stdout, encoding="utf-8")
    labels = [vars(label) for label in data.labels]
    (folder / "labels.json").write_text(json.dumps(labels, indent=1), encoding="utf-8")
    return parse_incidents(done.stdout.splitlines(), data)


# ---------------------------------------------------------------------------------------
# Report.


def _kind_cells(result: Score) -> tuple[str, str]:
    recall, delay = [], []
    for kind in KINDS:
        if kind not in result.by_kind:
            continue
        hit, n = result.by_kind[kind]
        recall.append(f"{kind} {hit}/{n}")
        hours = result.delays.get(kind)
        delay.append(f"{kind} {np.median(hours):.0f}" if hours else f"{kind} -")
    return ", ".join(recall), ", ".join(delay)


def report(name: str, result: Score, about: str = "") -> str:
    recall, delay = _kind_cells(result)
    head = f"{name}" + (f" ({about})" if about else "")
    return (
        f"{head}\n"
        f"  series {result.series}, labels {result.labels}, series-weeks judged "
        f"{result.series_weeks:.0f}\n"
        f"  precision {result.precision:.3f}  recall {result.recall:.3f}  F1 {result.f1:.3f}  "
        f"false alerts {result.false_alerts} = {result.false_per_100_series_weeks:.2f} "
        f"per 100 series-weeks\n"
        f"  recall by kind: {recall}\n"
        f"  median delay (h): {delay}\n"
        f"  labels alerted only after their tolerance (counted as missed): {result.late}; "
        f"other incidents inside a label window (not false): {result.inside}; "
        f"incidents in the warm-up (ignored): {result.warmup_incidents}"
    )


def choose_families(
    names: str | None,
    *,
    held_out: bool = False,
    fresh: bool = False,
    sealed: bool = False,
    blind: bool = False,
    audit: bool = False,
) -> list[str]:
    """The families to run: the comma-separated ``names``, else the audit group when
    ``audit``, the blind group when ``blind``, the sealed group when ``sealed``, the fresh group when ``fresh``, the
    held-out group when ``held_out``, else the tuning group. Raises ValueError naming
    unknown families."""
    if not names:
        if audit:
            return list(AUDIT)
        if blind:
            return list(BLIND)
        if sealed:
            return list(SEALED)
        return list(FRESH if fresh else HELD_OUT if held_out else TUNING)
    chosen = [f.strip() for f in names.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown} (known: {', '.join(FAMILIES)})")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument(
        "--families",
        help=f"comma-separated (default: {', '.join(TUNING)}; held out: {', '.join(HELD_OUT)}; "
        f"fresh: {', '.join(FRESH)}; sealed: {', '.join(SEALED)}; blind: {', '.join(BLIND)}; "
        f"audit: {', '.join(AUDIT)})",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--held-out", action="store_true", help="run the held-out families (never tune on them)"
    )
    group.add_argument(
        "--fresh", action="store_true", help="run the fresh held-out families (never tune on them)"
    )
    group.add_argument(
        "--sealed",
        action="store_true",
        help="run the sealed families: once, for the final report (never tune on them)",
    )
    group.add_argument(
        "--blind",
        action="store_true",
        help="run the blind families: once, for the final report (never tune on them)",
    )
    group.add_argument(
        "--audit",
        action="store_true",
        help="run the audit families: once, for the final report (never tune on them)",
    )
    parser.add_argument("--series", type=int, default=300, help="series per family")
    parser.add_argument("--hourly-rules", type=Path, action="append", help="rule file(s)")
    parser.add_argument("--daily-rules", type=Path, action="append", help="rule file(s)")
    parser.add_argument("--out", type=Path, help="keep each family's CSV, config, output here")
    args = parser.parse_args(argv)
    if args.families and (args.held_out or args.fresh or args.sealed or args.blind or args.audit):
        flags = {
            "held-out": args.held_out,
            "fresh": args.fresh,
            "sealed": args.sealed,
            "blind": args.blind,
        }
        group_flag = next((flag for flag, on in flags.items() if on), "audit")
        parser.error(f"--families and --{group_flag} exclude each other")
    try:
        chosen = choose_families(
            args.families,
            held_out=args.held_out,
            fresh=args.fresh,
            sealed=args.sealed,
            blind=args.blind,
            audit=args.audit,
        )
    except ValueError as err:
        parser.error(str(err))
    hourly_rules = args.hourly_rules or [HOURLY_RULES]
    daily_rules = args.daily_rules or [DAILY_RULES]
    with tempfile.TemporaryDirectory(prefix="alerter-independent-") as scratch:
        base = args.out or Path(scratch)
        pooled = {"hourly": Score(), "daily": Score(), "all": Score()}
        print(f"seed {args.seed}, {args.series} series per family")
        print(f"hourly rules: {', '.join(map(str, hourly_rules))}")
        print(f"daily rules: {', '.join(map(str, daily_rules))}\n")
        for name in chosen:
            family = FAMILIES[name]
            began = time.perf_counter()
            data = generate(family, args.seed, args.series)
            rules = hourly_rules if family.hourly else daily_rules
            incidents = run_backtest(data, rules, base / name)
            result = score(
                data.labels,
                incidents,
                series=len(data.names),
                warmup=data.warmup,
                windows=data.windows,
                step=data.step,
            )
            pooled["hourly" if family.hourly else "daily"].add(result)
            pooled["all"].add(result)
            took = time.perf_counter() - began
            step = "1h" if family.hourly else "1d"
            about = f"{family.about}; {step} x {family.weeks} weeks; {took:.0f} s"
            print(report(name, result, about) + "\n")
        for name, result in pooled.items():
            if result.series:
                print(report(f"pooled {name}", result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
