"""Parameters of the ``cost`` detector (see ``alerter.detect.cost``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from alerter.detect.base import DetectorParams
from alerter.detect.budget import Budget
from alerter.timeparse import Duration

WEEK = timedelta(days=7)
DAY = timedelta(days=1)


class CostParams(DetectorParams):
    """Parameters of the ``cost`` detector."""

    type: Literal["cost"] = Field(default="cost", description="Detector type.")
    period: Duration = Field(
        default=WEEK,
        description="The season: the baseline is the same slot of the last `weeks` periods "
        "('7d': hour of the week; '1d': hour of the day). A whole number of days.",
    )
    weeks: int = Field(
        default=4, ge=1, le=60, description="Past periods whose same slot forms the baseline."
    )
    min_weeks: int = Field(
        default=2, ge=1, le=12, description="Fewest known same-slot values needed for a verdict."
    )
    calibration: Duration = Field(
        default=timedelta(days=14),
        description="Span of the series' own recent residuals its thresholds are calibrated on.",
    )
    budget: Budget = Field(
        default="1/month",
        description="How often a clean series may alert (e.g. '1/month'); sets the quantile "
        "of its recent residuals that a window must exceed. A rule's `max_alerts` fills it.",
    )
    guard: float = Field(
        default=1.5,
        ge=1,
        le=100,
        description="A spike must exceed the series' calibrated upper quantile by this factor.",
    )
    sparse_guard: float = Field(
        default=2.5,
        ge=1,
        le=1000,
        description="The guard for series whose calibration span is mostly zero windows "
        "(their blips are ordinary).",
    )
    k: float = Field(
        default=4.0, gt=0, le=100, description="Spike threshold floor in robust log sigmas."
    )
    shift_windows: int = Field(
        default=12,
        ge=1,
        le=1000,
        description="Windows averaged for the sustained-change score (level shifts, drops).",
    )
    drop_windows: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Windows averaged for the sustained-decrease score (drops); unset: "
        "`shift_windows`. A decrease must also pass `min_change`, which as a decrease is the "
        "larger floor (40 %: 0.51 in log against 0.34 up), so a shorter average finds drops "
        "sooner without alerting on noise.",
    )
    mid_windows: int | None = Field(
        default=None,
        ge=2,
        le=1000,
        description="Windows of a second, longer sustained-change average (rises and "
        "decreases), calibrated like the first: a 40 % level shift under hourly noise too "
        "heavy for the `shift_windows` average to tell within half a day; unset: off.",
    )
    k_shift: float = Field(
        default=4.0,
        gt=0,
        le=100,
        description="Sustained-change threshold floor in robust log sigmas of the average.",
    )
    shift_margin: float = Field(
        default=0.2,
        ge=0,
        le=10,
        description="A sustained change must exceed the series' recent maximum of its "
        "averaged residual by this much (log scale: 0.2 ~ 22 %); the long average's margin "
        "is smaller by sqrt(shift_windows / windows in hold).",
    )
    excursion_margin: float = Field(
        default=0.0,
        ge=0,
        le=10,
        description="A sustained rise must also exceed the series' recent maximum of its "
        "averaged residual by this share of that maximum (log scale): a series whose recent "
        "bursts were tenfold needs a larger one to be news (decreases are not affected); "
        "0 (default): off.",
    )
    min_change: float = Field(
        default=0.4,
        ge=0,
        le=100,
        description="Smallest relative sustained change that alerts (0.4 = 40 %).",
    )
    hold: Duration = Field(
        default=timedelta(days=2),
        description="Span of the long average: a change held this long alerts with a "
        "smaller margin, and a decrease held this long alerts even when each day of it "
        "looks like a weekend day (a one-day holiday does not; a lasting drop does).",
    )
    down_spikes: bool = Field(
        default=False,
        description="A single window below the band alerts; off (default): a decrease "
        "must persist over `shift_windows` (a one-window dip is noise or a late row).",
    )
    monthly: bool = Field(
        default=True,
        description="An increase must also exceed the same slot one calendar month back "
        "(month-start billing, monthly jobs are not spikes); a month's last day is compared "
        "with the last day of the month before (month-end accruals).",
    )
    month_days: int | None = Field(
        default=None,
        ge=1,
        le=31,
        description="With `monthly`: only windows in the first this many days of a month (and "
        "its last day) are compared with the month before (month-start billing); unset: "
        "every day (monthly jobs on any day). On other days a month back is often another weekday, which would "
        "explain away a real rise; so after the 1st only the month-back slot scaled by the "
        "two slots' usual levels explains (tier prices that reset on the 1st).",
    )
    weekend_floor: bool = Field(
        default=True,
        description="A decrease must also fall below the lowest same slot of the last seven "
        "days (a holiday that looks like a Sunday is not a drop).",
    )
    center: bool = Field(
        default=False,
        description="Increases are measured from the series' median residual over "
        "`calibration` when it is positive, decreases when it is negative (a steady trend "
        "that the seasonal median lags behind is not a change; never more alarming than "
        "off, so the weeks after a level shift, while the median catches up, stay quiet). "
        "Intermittent series (`active_share`) are never centred.",
    )
    holiday_from_midnight: bool = Field(
        default=False,
        description="With `weekend_floor`, sub-daily data: the lowest-day explanation holds "
        "only on a day that has looked like the lowest day since it began (most of its "
        "windows where the two differ nearer it than the normal) after a day that was not "
        "low itself (a holiday is low all day, a nightly build in it aside; a drop that "
        "begins at 14:00 or lasts is not a holiday). A series' day begins after its night "
        "(4 hours that do not tell the two apart: an office in another time zone), else at "
        "UTC midnight; a holiday also counts as the lowest day in the `hold` average.",
    )
    active_share: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Series whose calibration span has at least this share of zero windows "
        "(intermittent, batch hours) are judged on the windows that cost money only: a zero "
        "window is not a drop, the baseline is the median of the non-zero same slots (and "
        "their neighbours, sub-daily), and the sustained score averages the last "
        "`active_windows` non-zero windows. Unset: zeros are judged like any amount (and "
        "series mostly zero get spikes only).",
    )
    active_windows: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="With `active_share`: non-zero windows averaged for an intermittent "
        "series' sustained-change score.",
    )
    irregular_share: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Series with a window threefold off the same slot a period earlier "
        "(both non-zero) on at least this share of the days of the last `calibration` plus "
        "`weeks - 1` periods (ad hoc jobs, training runs at shifting hours; one odd event "
        "marks only its days and their echo a period later) are judged against their "
        "own runs: a window alerts up when 1.5x (`guard`) their largest amount of that "
        "span, a run when it outlasts their longest run by a quarter (at least two "
        "windows) or when their floor between runs (the windows that cost money below the "
        "geometric mean of its usual level and their usual run) rises over `shift_windows` "
        "such windows, and a decrease when that floor falls for `drop_windows` or, when "
        "their runs of the last two weeks keep a schedule of 1, 2 or 3 days, when a due "
        "run has not come 4 hours (a sixth of a day) after its time; a run at a new hour is "
        "not news. Unset: off.",
    )
    offset: float = Field(
        default=0.05,
        gt=0,
        le=10,
        description="Offset c as a fraction of the series' recent mean (keeps zeros finite).",
    )
    rise_offset: float | None = Field(
        default=None,
        gt=0,
        le=10,
        description="The offset of increases (default: `offset`): a larger one weighs a rise "
        "by money against the series' typical amount, so a quiet hour that triples from a "
        "few percent of a busy one is no news while a busy hour's rise is judged almost as "
        "before; decreases keep `offset`. Series judged on their active windows "
        "(`active_share`) are not affected.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> CostParams:
        if self.min_weeks > self.weeks:
            raise ValueError(f"min_weeks ({self.min_weeks}) must be <= weeks ({self.weeks})")
        return self

    @field_validator("calibration")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value < DAY:
            raise ValueError("calibration must be at least a day")
        return value

    @field_validator("period")
    @classmethod
    def _whole_days(cls, value: timedelta) -> timedelta:
        if value < DAY or value % DAY:
            raise ValueError("period must be a whole number of days ('1d', '7d')")
        return value
