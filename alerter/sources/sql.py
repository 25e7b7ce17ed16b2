"""``sql``: spend from a warehouse query (DuckDB file, PostgreSQL, any SQLAlchemy or ADBC URL).

The aggregation runs where the data lives. The configured query receives ``:since``
and ``:until`` (aware UTC datetimes, the half-open range being fetched) and returns
one row per (window, series): a window start column, an amount column, optionally a
currency and a quantity column, and every other column is a dimension. Example on a
FOCUS table::

    SELECT date_trunc('day', ChargePeriodStart) AS window_start,
           ServiceName, RegionId, sum(BilledCost) AS amount, BillingCurrency AS currency
    FROM focus WHERE ChargePeriodStart >= :since AND ChargePeriodStart < :until
    GROUP BY ALL

A window start without a UTC offset is read as UTC. A row with a null or non-numeric
amount or window is skipped and named in the cycle's errors (and counted in
``skipped_rows``). The URL comes from ``url`` (no password allowed in the TOML) or from
the environment variable named by ``url_env``; errors show it with the password hidden.
A URL ``adbc+DRIVER://...`` (``postgresql``, ``sqlite``, ``snowflake``, ``bigquery``,
``flightsql``) runs through that ADBC driver instead of SQLAlchemy, results as Arrow.
"""

from __future__ import annotations

import asyncio
import builtins
import importlib
import logging
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from alerter.domain import CostPoint, Coverage, SeriesKey, make_key
from alerter.errors import BadResponse, ConfigError, SourceError, Unavailable
from alerter.money import parse_amount
from alerter.sources.base import FetchResult, SourceConfig, SourceContext
from alerter.timeparse import Duration, floor_time, parse_time

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

log = logging.getLogger(__name__)
MAX_REPORTED = 20
ADBC_DRIVERS = {
    "postgresql": "adbc_driver_postgresql.dbapi",
    "sqlite": "adbc_driver_sqlite.dbapi",
    "snowflake": "adbc_driver_snowflake.dbapi",
    "bigquery": "adbc_driver_bigquery.dbapi",
    "flightsql": "adbc_driver_flightsql.dbapi",
}
"""ADBC drivers by the name after ``adbc+`` (an explicit list: no imports named by config)."""
_PARAM = re.compile(r"(?<![:\w]):(since|until)\b")


def positional(query: str, numbered: bool) -> tuple[str, list[str]]:
    """``:since``/``:until`` as ``$1, $2, ...`` (numbered) or ``?``, and the names in order."""
    names: list[str] = []

    def swap(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"${len(names)}" if numbered else "?"

    return _PARAM.sub(swap, query), names


class SqlConfig(SourceConfig):
    """A ``[sources.NAME]`` table with ``type = "sql"``."""

    type: Literal["sql"] = "sql"
    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL without a password, e.g. duckdb:///focus.db (relative to "
        "the config) or postgresql+psycopg://alerter@db/billing.",
    )
    url_env: str | None = Field(
        default=None, description="Environment variable holding the URL (use it for passwords)."
    )
    query: str = Field(description="SQL with :since and :until, returning one row per window.")
    step: Duration = Field(description='Window size of the query\'s rows, e.g. "1h", "1d".')
    window_column: str = Field(default="window_start", description="Window start column.")
    amount_column: str = Field(default="amount", description="Amount column (exact decimal).")
    currency_column: str = Field(
        default="currency", description="Currency column, if the query returns one."
    )
    quantity_column: str = Field(
        default="quantity", description="Quantity column, if the query returns one."
    )
    currency: str = Field(default="USD", description="Currency when the query returns none.")

    @field_validator("step")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("must be positive")
        return value

    @model_validator(mode="after")
    def _one_url(self) -> SqlConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("set exactly one of url and url_env")
        if self.url is not None and _has_password(self.url):
            raise ValueError(
                "url must not contain a password: put the URL in an environment "
                "variable and name it in url_env"
            )
        if ":since" not in self.query or ":until" not in self.query:
            raise ValueError("query must use both :since and :until")
        return self


def _has_password(url: str) -> bool:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).password is not None
    except ImportError:
        return "@" in url and ":" in url.split("://", 1)[-1].split("@", 1)[0]
    except Exception:  # an unparsable URL is reported when the source starts
        return False


class SqlSource:
    """Runs one aggregating query per fetch; the warehouse does the summing."""

    type: ClassVar[str] = "sql"
    replayable: ClassVar[bool] = False
    Config: ClassVar[builtins.type[SourceConfig]] = SqlConfig

    def __init__(self, name: str, config: SourceConfig, context: SourceContext) -> None:
        assert isinstance(config, SqlConfig)
        self.name = name
        self.config = config
        self.context = context
        self._engine: Engine | None = None
        self._shown = "(url not read yet)"

    @property
    def step(self) -> timedelta:
        return self.config.step

    def _url(self) -> URL:
        try:
            from sqlalchemy.engine import make_url
        except ImportError:
            raise ConfigError(
                f"source {self.name}: the sql source needs SQLAlchemy (pip install 'alerter[sql]')"
            ) from None
        cfg = self.config
        raw = cfg.url
        if cfg.url_env is not None:
            raw = self.context.env.get(cfg.url_env)
            if not raw:
                raise Unavailable(
                    f"source {self.name}: environment variable {cfg.url_env} is not set"
                )
        assert raw is not None
        try:
            url = make_url(raw)
        except Exception:
            where = f"${cfg.url_env}" if cfg.url_env else "url"
            raise ConfigError(f"source {self.name}: {where} is not a database URL") from None
        if url.drivername.startswith("duckdb") and url.database not in (None, "", ":memory:"):
            url = url.set(database=str(self.context.resolve(url.database)))
        return url

    def _connect(self) -> Engine:
        if self._engine is None:
            from sqlalchemy import create_engine

            url = self._url()
            self._shown = url.render_as_string(hide_password=True)
            args: dict[str, Any] = {}
            if url.drivername.startswith("duckdb"):
                args["read_only"] = True  # a warehouse file another job may be writing
            try:
                self._engine = create_engine(url, connect_args=args, pool_pre_ping=True)
            except Exception as exc:  # missing driver, bad options
                raise SourceError(f"source {self.name}: cannot use {self._shown}: {exc}") from None
        return self._engine

    def _query(self, since: datetime, until: datetime) -> FetchResult:
        url = self._url()
        if url.drivername.startswith("adbc+"):
            return self._query_adbc(url, since, until)
        return self._query_sqlalchemy(since, until)

    def _query_adbc(self, url: URL, since: datetime, until: datetime) -> FetchResult:
        driver = url.drivername.split("+", 1)[1]
        module = ADBC_DRIVERS.get(driver)
        shown = url.render_as_string(hide_password=True)
        if module is None:
            raise ConfigError(
                f"source {self.name}: no ADBC driver {driver!r} (have: {', '.join(ADBC_DRIVERS)})"
            )
        try:
            dbapi = importlib.import_module(module)
        except ImportError:
            package = module.split(".", 1)[0].replace("_", "-")
            raise SourceError(f"source {self.name}: {shown} needs pip install {package}") from None
        uri = url.set(drivername=driver).render_as_string(hide_password=False)
        query, names = positional(self.config.query, numbered=driver == "postgresql")
        values = {"since": since, "until": until}
        try:
            conn = dbapi.connect(uri)
            try:
                cur = conn.cursor()
                cur.execute(query, [values[n] for n in names])
                table = cur.fetch_arrow_table()
                cur.close()
            finally:
                conn.close()
        except Exception as exc:  # every driver has its own error classes
            text = str(exc).strip()
            reason = text.splitlines()[0][:300] if text else type(exc).__name__
            if url.password:
                reason = reason.replace(str(url.password), "***")
            raise Unavailable(f"source {self.name}: query on {shown} failed: {reason}") from None
        columns = list(table.column_names)
        self._check(columns)
        rows = zip(*(table.column(c).to_pylist() for c in columns), strict=True)
        return self._points(columns, rows, since, until)

    def _query_sqlalchemy(self, since: datetime, until: datetime) -> FetchResult:
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        engine = self._connect()
        try:
            with engine.connect() as conn:
                result = conn.execute(text(self.config.query), {"since": since, "until": until})
                columns = list(result.keys())
                self._check(columns)
                rows = result.fetchall()
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
            password = engine.url.password
            if password:
                reason = reason.replace(str(password), "***")
            raise Unavailable(
                f"source {self.name}: query on {self._shown} failed: {reason}"
            ) from None
        return self._points(columns, rows, since, until)

    def _check(self, columns: list[str]) -> None:
        cfg = self.config
        missing = [c for c in (cfg.window_column, cfg.amount_column) if c not in columns]
        if missing:
            raise BadResponse(
                f"source {self.name}: the query returns no column {', '.join(missing)} "
                f"(it returns: {', '.join(columns)})"
            )

    def _points(
        self, columns: list[str], rows: Any, since: datetime, until: datetime
    ) -> FetchResult:
        cfg = self.config
        iw = columns.index(cfg.window_column)
        ia = columns.index(cfg.amount_column)
        ic = columns.index(cfg.currency_column) if cfg.currency_column in columns else None
        iq = columns.index(cfg.quantity_column) if cfg.quantity_column in columns else None
        dims = [(i, c) for i, c in enumerate(columns) if i not in (iw, ia, ic, iq)]
        sums: dict[tuple[SeriesKey, datetime, str], list[Decimal | None]] = {}
        problems: list[str] = []
        skipped = 0
        last: datetime | None = None
        for n, row in enumerate(rows, start=1):
            try:
                start = floor_time(_as_utc(row[iw]), cfg.step)
                _ = start + cfg.step  # the window must end before year 10000
                amount = parse_amount(row[ia])
                quantity = None if iq is None or row[iq] is None else parse_amount(row[iq])
            except (ValueError, TypeError, OverflowError) as exc:
                skipped += 1
                if len(problems) < MAX_REPORTED:
                    problems.append(f"source {self.name}: query row {n}: {exc}")
                continue
            currency = cfg.currency if ic is None or row[ic] in (None, "") else str(row[ic])
            key = make_key({c: "" if row[i] is None else str(row[i]) for i, c in dims})
            slot = sums.setdefault((key, start, currency), [Decimal(0), None])
            slot[0] = (slot[0] or Decimal(0)) + amount
            if quantity is not None:
                slot[1] = (slot[1] or Decimal(0)) + quantity
            last = start if last is None else max(last, start)
        for p in problems:
            log.warning("sql_row_skipped %s", p)
        points = [
            CostPoint(self.name, key, start, start + cfg.step, vals[0] or Decimal(0), vals[1], cur)
            for (key, start, cur), vals in sorted(sums.items(), key=lambda kv: (kv[0][1], kv[0][0]))
        ]
        coverage = []
        if last is not None:
            first = floor_time(since, cfg.step)
            end = min(last + cfg.step, until)
            if end > first:
                coverage.append(Coverage(first, end))
        errors = problems
        if skipped > len(problems):
            errors = [
                *problems,
                f"source {self.name}: {skipped - len(problems)} more row(s) skipped",
            ]
        return FetchResult(points, coverage, errors, skipped_rows=skipped)

    async def fetch(self, since: datetime, until: datetime) -> FetchResult:
        return await asyncio.to_thread(self._query, since, until)

    async def aclose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _as_utc(value: object) -> datetime:
    """A window start as aware UTC: datetimes without an offset and dates are UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        raw = value.strip()
        try:
            return parse_time(raw)
        except ValueError:
            parsed = datetime.fromisoformat(raw)  # offset-less: UTC (raises ValueError)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    raise ValueError(f"not a window start: {value!r}")


__all__ = ["SqlConfig", "SqlSource"]
