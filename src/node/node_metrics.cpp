// The node's figures as Prometheus metric families (docs/operations.md, "Metrics"), gathered
// when scraped: nothing here runs on the call path, which only bumps its thread's own counters
// (runtime/host_metrics).
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <limits>
#include <set>

#include "node/node_core.hpp"

namespace mesh::detail {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
  return MetricFamily{std::move(name), std::move(help), type, {}};
}

ClientMetric::Label label(std::string name, std::string value) {
  return ClientMetric::Label{std::move(name), std::move(value)};
}

void add_counter(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = value;
  f.metric.push_back(std::move(m));
}

void add_gauge(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

MetricFamily single(std::string name, std::string help, MetricType type, double value) {
  MetricFamily f = family(std::move(name), std::move(help), type);
  type == MetricType::Counter ? add_counter(f, {}, value) : add_gauge(f, {}, value);
  return f;
}

constexpr std::string_view kReasonNames[kReasonCount] = {"stopped", "idle",     "moved",
                                                          "evicted", "shutdown", "crashed"};
static_assert(static_cast<std::size_t>(DeactivateReason::shutdown) + 1 == kCrashed);

std::string outcome_name(std::size_t index) {
  return index == 0 ? "ok" : std::string(to_string(static_cast<Errc>(index)));
}

// Calls or casts by outcome: "ok" always (a module that has handled nothing yet shows 0), the
// error outcomes once they happened, so that the series stay few.
void add_outcomes(MetricFamily& f, const std::string& capability, const std::string& module,
                  const std::array<std::uint64_t, kOutcomeCount>& counts) {
  for (std::size_t i = 0; i < kOutcomeCount; ++i) {
    if (i != 0 && counts[i] == 0) continue;
    add_counter(f,
                {label("capability", capability), label("module", module),
                 label("outcome", outcome_name(i))},
                static_cast<double>(counts[i]));
  }
}

}  // namespace

NodeCore::Handled NodeCore::handled() const {
  std::set<std::uint64_t> ids;
  for (const ActorType* type : registry_.all()) ids.insert(type->metrics_id);
  Handled handled;
  for (const auto& [key, t] : host_metrics::totals(ids)) {
    for (std::size_t i = 0; i < kOutcomeCount; ++i) {
      handled.calls += t.calls[i];
      handled.casts += t.casts[i];
    }
  }
  return handled;
}

std::string NodeCore::metrics_text() const {
  std::vector<MetricFamily> families;

  // Per actor type and capability, from every thread's counters. The node's own internal
  // module (reminder requests between nodes) is counted like any other.
  std::map<std::uint64_t, const ActorType*> types;
  std::set<std::uint64_t> ids;
  for (const ActorType* type : registry_.all()) {
    types.emplace(type->metrics_id, type);
    ids.insert(type->metrics_id);
  }
  const auto totals = host_metrics::totals(ids);
  MetricFamily calls = family("mesh_calls_total",
                              "Calls whose outcome was decided on this node, by outcome (ok or "
                              "the error's name).",
                              MetricType::Counter);
  MetricFamily casts = family("mesh_casts_total", "Casts handled or refused on this node.",
                              MetricType::Counter);
  MetricFamily active = family("mesh_activations", "Live activations on this node.",
                               MetricType::Gauge);
  MetricFamily started = family("mesh_activations_started_total",
                                "Activations created on this node.", MetricType::Counter);
  std::array<std::uint64_t, kReasonCount> ended_by_reason{};
  std::map<std::string, TypeTotals> by_capability;
  for (const auto& [key, t] : totals) {
    const std::string& capability = capability_ids_.name(key.capability);
    const std::string& module = types.at(key.type_id)->module;
    add_outcomes(calls, capability, module, t.calls);
    add_outcomes(casts, capability, module, t.casts);
    std::uint64_t ended = 0;
    for (std::size_t r = 0; r < kReasonCount; ++r) {
      ended += t.ended[r];
      ended_by_reason[r] += t.ended[r];
    }
    // Counted on different threads: a scrape may read an end before its start.
    const double live = t.started > ended ? static_cast<double>(t.started - ended) : 0.0;
    add_gauge(active, {label("capability", capability), label("module", module)}, live);
    add_counter(started, {label("capability", capability), label("module", module)},
                static_cast<double>(t.started));
    by_capability[capability].add(t);
  }
  families.push_back(std::move(calls));
  families.push_back(std::move(casts));

  MetricFamily duration = family("mesh_call_duration_seconds",
                                 "Time calls' handlers ran on this node, by capability.",
                                 MetricType::Histogram);
  for (const auto& [capability, t] : by_capability) {
    ClientMetric m;
    m.label = {label("capability", capability)};
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < kDurationBuckets; ++b) {
      cumulative += t.duration[b];
      const double bound = b < kDurationBoundsNs.size()
                               ? static_cast<double>(kDurationBoundsNs[b]) / 1e9
                               : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back(ClientMetric::Bucket{cumulative, bound});
    }
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = static_cast<double>(t.duration_sum_ns) / 1e9;
    duration.metric.push_back(std::move(m));
  }
  families.push_back(std::move(duration));
  families.push_back(std::move(active));
  families.push_back(std::move(started));
  MetricFamily deactivations = family("mesh_deactivations_total",
                                      "Activations that ended on this node, by reason (crashed: "
                                      "a handler or constructor threw, or a store failure "
                                      "discarded it).",
                                      MetricType::Counter);
  for (std::size_t r = 0; r < kReasonCount; ++r) {
    add_counter(deactivations, {label("reason", std::string(kReasonNames[r]))},
                static_cast<double>(ended_by_reason[r]));
  }
  families.push_back(std::move(deactivations));

  // Membership and placement.
  const std::vector<std::string> members = rebalancer_.members();
  families.push_back(single("mesh_peers", "Peers this node is connected to.", MetricType::Gauge,
                            static_cast<double>(members.empty() ? 0 : members.size() - 1)));
  families.push_back(single("mesh_view_epoch",
                            "This node's view epoch (increases on every membership or "
                            "capability change).",
                            MetricType::Gauge, static_cast<double>(rebalancer_.epoch())));
  MetricFamily owned = family("mesh_owned_shards", "Shards this node owns, by capability.",
                              MetricType::Gauge);
  const std::shared_ptr<const RoutingTable> table = rebalancer_.table_snapshot();
  for (const std::string& capability : table->capabilities()) {
    const CapabilityRoute* route = table->find(capability);
    std::size_t count = 0;
    for (std::uint32_t s = 0; s < options_.shard_count; ++s) count += route->owned_here(s);
    add_gauge(owned, {label("capability", capability)}, static_cast<double>(count));
  }
  families.push_back(std::move(owned));
  families.push_back(single("mesh_handoffs_in_progress",
                            "Shards this node gained and waits for their previous owner to "
                            "release.",
                            MetricType::Gauge,
                            static_cast<double>(rebalancer_.handoffs_in_progress())));
  families.push_back(single("mesh_rebalances_total",
                            "View changes that gave this node shards or took some away.",
                            MetricType::Counter, static_cast<double>(rebalancer_.rebalances())));
  families.push_back(single("mesh_forwarded_total",
                            "Requests from peers this node passed on to the owner by its own "
                            "view.",
                            MetricType::Counter,
                            static_cast<double>(forwarded_.load(std::memory_order_relaxed))));
  families.push_back(single("mesh_reconciler_runs_total", "Reconciler passes.",
                            MetricType::Counter,
                            static_cast<double>(rebalancer_.reconciler_runs())));
  families.push_back(single("mesh_reconciler_stopped_total",
                            "Activations the reconciler stopped (on shards this node does not "
                            "own).",
                            MetricType::Counter,
                            static_cast<double>(rebalancer_.reconciler_stopped())));

  // Transport.
  MetricFamily sent = family("mesh_bytes_sent_total", "Bytes written to each peer's links.",
                             MetricType::Counter);
  MetricFamily received = family("mesh_bytes_received_total",
                                 "Bytes read from each peer's links.", MetricType::Counter);
  MetricFamily refused = family("mesh_frames_refused_total",
                                "Peers' connections this node refused, by reason.",
                                MetricType::Counter);
  if (cluster_) {
    for (const auto& [peer, traffic] : cluster_->traffic()) {
      add_counter(sent, {label("peer", peer)}, static_cast<double>(traffic.sent));
      add_counter(received, {label("peer", peer)}, static_cast<double>(traffic.received));
    }
    for (const auto& [reason, count] : cluster_->refusals()) {
      add_counter(refused, {label("reason", reason)}, static_cast<double>(count));
    }
  }
  families.push_back(std::move(sent));
  families.push_back(std::move(received));
  families.push_back(std::move(refused));

  // Timers, the state store and reminders.
  families.push_back(single("mesh_timers", "Timers running on this node's activations.",
                            MetricType::Gauge, static_cast<double>(host_.timer_count())));
  if (const StateWriter* writer = host_.writer()) {
    const StateWriter::Figures f = writer->figures();
    families.push_back(single("mesh_store_commits_total",
                              "State store transactions for actors' state.",
                              MetricType::Counter, static_cast<double>(f.commits)));
    MetricFamily writes = family("mesh_store_writes_total",
                                 "Actors' state writes, by outcome.", MetricType::Counter);
    add_counter(writes, {label("outcome", "ok")}, static_cast<double>(f.saved));
    add_counter(writes, {label("outcome", "fenced")}, static_cast<double>(f.fenced));
    add_counter(writes, {label("outcome", "store_unavailable")}, static_cast<double>(f.failed));
    families.push_back(std::move(writes));
  }
  if (reminders_) {
    families.push_back(single("mesh_reminders_fired_total",
                              "Reminder deliveries this node completed.", MetricType::Counter,
                              static_cast<double>(reminders_->fired())));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace mesh::detail
