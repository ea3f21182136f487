"""The GenAI client histograms, aggregated here and handed to the metric reader when it collects.

Each model call records three histogram points (its duration, input and output tokens). Through
the SDK's ``Histogram.record`` a point costs ~10 µs (a ``Measurement``, attribute validation, a
sorted hash of the attributes, two locks, the exemplar filter): the metrics were a quarter of
what tracing a call cost. These instruments only ever see attribute sets of our own making
(strings and numbers), so a point here is a dict lookup on the frozen attribute set and a few
additions under one lock (~1 µs). The reader (``telemetry``) adds them to what the SDK collects,
as explicit-bucket histograms in the reader's temporality, under the toolkit's scope.

Used only when the global meter provider is the agent's; an app that set its own gets SDK
instruments from it instead. No exemplars are recorded (the model call's span has ended, and is no
longer current, when its points are recorded).
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from llmtrace_agent._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from opentelemetry.sdk.resources import Resource

SCOPE = InstrumentationScope("llmtrace_agent.toolkit.genai", __version__)


class _Point:
    """One attribute set's aggregate."""

    __slots__ = ("attributes", "buckets", "count", "max", "min", "started_ns", "sum")

    def __init__(self, attributes: Mapping[str, object], buckets: int) -> None:
        self.attributes = dict(attributes)
        self.started_ns = time.time_ns()
        self.count = 0
        self.sum = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        self.buckets = [0] * buckets


class GenAIHistogram:
    """An explicit-bucket histogram instrument with the SDK histogram's ``record``."""

    __slots__ = ("_lock", "_points", "bounds", "description", "name", "unit")

    def __init__(self, name: str, unit: str, description: str, bounds: Sequence[float]) -> None:
        self.name = name
        self.unit = unit
        self.description = description
        self.bounds = tuple(bounds)
        self._points: dict[frozenset[tuple[str, object]], _Point] = {}
        self._lock = threading.Lock()

    def record(self, value: float, attributes: Mapping[str, object]) -> None:
        # Hot path: three times per model call.
        key = frozenset(attributes.items())
        index = bisect_left(self.bounds, value)  # bucket i holds (bound i-1, bound i]
        with self._lock:
            point = self._points.get(key)
            if point is None:
                point = self._points[key] = _Point(attributes, len(self.bounds) + 1)
            point.count += 1
            point.sum += value
            point.min = min(point.min, value)
            point.max = max(point.max, value)
            point.buckets[index] += 1

    def collect(self, now_ns: int, delta: bool, since_ns: int) -> Metric | None:
        """The points so far (cumulative, each from its first record), or since the last
        collection at ``since_ns`` (``delta``, which then starts afresh)."""
        with self._lock:
            points = list(self._points.values())
            if delta:
                self._points = {}
            data = [
                HistogramDataPoint(
                    attributes=point.attributes,  # type: ignore[arg-type]
                    start_time_unix_nano=since_ns if delta else point.started_ns,
                    time_unix_nano=now_ns,
                    count=point.count,
                    sum=point.sum,
                    bucket_counts=list(point.buckets),
                    explicit_bounds=list(self.bounds),
                    min=point.min,
                    max=point.max,
                )
                for point in points
            ]
        if not data:
            return None
        temporality = AggregationTemporality.DELTA if delta else AggregationTemporality.CUMULATIVE
        return Metric(
            name=self.name,
            description=self.description,
            unit=self.unit,
            data=HistogramData(data_points=data, aggregation_temporality=temporality),
        )

    def forget(self) -> None:
        """A forked child starts empty (its parent exports what it recorded), with a new lock."""
        self._lock = threading.Lock()
        self._points = {}


class GenAIHistograms:
    """The histograms of one meter provider, and their part of each collection."""

    def __init__(self, resource: Resource) -> None:
        self._resource = resource
        self._histograms: dict[str, GenAIHistogram] = {}
        self._lock = threading.Lock()
        self._collected_ns = time.time_ns()
        os.register_at_fork(after_in_child=self._forget)

    def histogram(
        self, name: str, unit: str, description: str, bounds: Sequence[float]
    ) -> GenAIHistogram:
        found = self._histograms.get(name)
        if found is None:
            with self._lock:
                found = self._histograms.setdefault(
                    name, GenAIHistogram(name, unit, description, bounds)
                )
        return found

    def added_to(self, collected: MetricsData | None, delta: bool) -> MetricsData | None:
        """``collected`` (what the SDK collected, maybe nothing) with our histograms added."""
        now_ns = time.time_ns()
        since_ns, self._collected_ns = self._collected_ns, now_ns
        metrics = [
            metric
            for histogram in list(self._histograms.values())
            if (metric := histogram.collect(now_ns, delta, since_ns)) is not None
        ]
        if not metrics:
            return collected
        if collected is None or not collected.resource_metrics:
            ours = ScopeMetrics(scope=SCOPE, metrics=metrics, schema_url="")
            resource_metrics = ResourceMetrics(
                resource=self._resource, scope_metrics=[ours], schema_url=""
            )
            return MetricsData(resource_metrics=[resource_metrics])
        scopes = collected.resource_metrics[0].scope_metrics
        for scope_metrics in scopes:
            if scope_metrics.scope == SCOPE:  # the toolkit's SDK instruments (counters)
                scope_metrics.metrics.extend(metrics)  # type: ignore[attr-defined]
                return collected
        scopes.append(ScopeMetrics(scope=SCOPE, metrics=metrics, schema_url=""))  # type: ignore[attr-defined]
        return collected

    def _forget(self) -> None:
        self._lock = threading.Lock()
        for histogram in self._histograms.values():
            histogram.forget()
