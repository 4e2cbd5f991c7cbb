// Package report holds the results of a benchmark run and renders them as
// one table: text for the terminal, Markdown and JSON for the results
// folder. With etcd's results beside the agent's, each row carries the
// ratio ours/etcd.
package report

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/clusteragent/agent/bench/load"
)

// Side is what one system measured: the load levels and its memory.
type Side struct {
	// System is "agent" or "etcd".
	System  string        `json:"system"`
	Version string        `json:"version,omitempty"`
	Results []load.Result `json:"results"`
	Memory  Memory        `json:"memory"`
	// Stability is the Raft terms and leaders around each load level, for
	// the levels where they were read (the agent's HTTP levels).
	Stability []Stability `json:"stability,omitempty"`
}

// Stability is what the nodes' GET /v1/status said just before a load
// level (warm-up included) and just after it.
type Stability struct {
	Name    string `json:"name"`
	Clients int    `json:"clients"`
	// Round is the level's round, as in load.Result.
	Round int `json:"round,omitempty"`
	// TermBefore and TermAfter are the highest term any node reported.
	TermBefore uint64 `json:"term_before"`
	TermAfter  uint64 `json:"term_after"`
	// LeaderBefore and LeaderAfter are the node that reported itself
	// leader, "" when none did.
	LeaderBefore string `json:"leader_before"`
	LeaderAfter  string `json:"leader_after"`
	// Unanswered are the nodes whose status could not be read, before or
	// after: their terms are not in the figures.
	Unanswered []string `json:"unanswered,omitempty"`
}

// Elections is how many terms began during the level: every election, won
// or not, starts one. It is -1 when no term could be read (terms start at
// 1), or when the highest term seen after is lower, which happens only
// when the node that had it did not answer the second time.
func (s Stability) Elections() int {
	if s.TermBefore == 0 || s.TermAfter < s.TermBefore {
		return -1
	}
	return int(s.TermAfter - s.TermBefore)
}

// LeaderChanged reports whether the level ended under another leader than
// it began with.
func (s Stability) LeaderChanged() bool { return s.LeaderBefore != s.LeaderAfter }

// Warning says what went wrong around the level (an election, a new
// leader, a node that did not answer), or "" when nothing did.
func (s Stability) Warning() string {
	level := fmt.Sprintf("%s %d clients", s.Name, s.Clients)
	var parts []string
	switch e := s.Elections(); {
	case s.LeaderChanged():
		parts = append(parts, fmt.Sprintf("leader changed during %s: %s → %s, term %d → %d", level, orNone(s.LeaderBefore), orNone(s.LeaderAfter), s.TermBefore, s.TermAfter))
	case e > 0:
		parts = append(parts, fmt.Sprintf("%d election(s) during %s, leader %s kept: term %d → %d", e, level, orNone(s.LeaderAfter), s.TermBefore, s.TermAfter))
	case e < 0:
		parts = append(parts, fmt.Sprintf("terms around %s unknown: term %d → %d", level, s.TermBefore, s.TermAfter))
	}
	if len(s.Unanswered) > 0 {
		parts = append(parts, fmt.Sprintf("around %s no status from %s", level, strings.Join(s.Unanswered, ", ")))
	}
	return strings.Join(parts, "; ")
}

// stabilities are the stability records of the level, one a round.
func (s *Side) stabilities(name string, clients int) []Stability {
	var out []Stability
	for _, st := range s.Stability {
		if st.Name == name && st.Clients == clients {
			out = append(out, st)
		}
	}
	return out
}

// Memory is the resident set size of the leader's process.
type Memory struct {
	// IdleRSSBytes is measured once the cluster has formed, before any
	// load.
	IdleRSSBytes uint64 `json:"idle_rss_bytes"`
	// LoadRSSBytes is the largest sample while the put load ran with
	// LoadClients clients.
	// With several rounds it is the peak over them, and LoadRSSByRound
	// each round's.
	LoadRSSBytes   uint64   `json:"load_rss_bytes"`
	LoadClients    int      `json:"load_clients"`
	LoadRSSByRound []uint64 `json:"load_rss_by_round,omitempty"`
}

// Host describes where the run happened; figures from different hosts are
// not comparable.
type Host struct {
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
}

// ThisHost describes the machine running the harness.
func ThisHost() Host {
	return Host{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
}

// Report is one run.
type Report struct {
	Started time.Time `json:"started"`
	Host    Host      `json:"host"`
	Plan    load.Plan `json:"plan"`
	// Rounds is how many times the PUT and GET levels ran, each time ours
	// and then etcd's; 0 counts as 1.
	Rounds int `json:"rounds,omitempty"`
	// LogStore is the agents' Raft log store, "wal" or "boltdb".
	LogStore string `json:"log_store,omitempty"`
	Agent    Side   `json:"agent"`
	// Etcd is nil unless the run compared against etcd.
	Etcd *Side `json:"etcd,omitempty"`
	// Timings are the agent's one-off timings, in the order measured.
	Timings []Timing `json:"timings,omitempty"`
	// Repeats summarise the timings measured several times (Crashes,
	// Failovers), each against its target.
	Repeats []Repeated `json:"repeats,omitempty"`
	// Crashes are the repeats of a fourth agent joining and being killed.
	Crashes []Crash `json:"crashes,omitempty"`
	// Failovers are the repeats of the leader being killed and restarted.
	Failovers []Failover `json:"failovers,omitempty"`
	// Reference is this machine's own cost of a durable append and a
	// loopback round trip, against which the single-client PUT is judged;
	// nil when not measured.
	Reference *Reference `json:"reference,omitempty"`
	// Disk is the data dirs' sizes after many writes, or nil.
	Disk *Disk `json:"disk,omitempty"`
	// Notes are printed under the tables: settings that differ from the
	// defaults, and anything skipped.
	Notes []string `json:"notes,omitempty"`
}

// Timing is one measured interval.
type Timing struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	Note    string  `json:"note,omitempty"`
}

// Disk is what many writes left on disk, snapshots and log compaction on.
type Disk struct {
	Writes     int     `json:"writes"`
	Clients    int     `json:"clients"`
	Seconds    float64 `json:"seconds"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	// LogStore is the agents' log store, "wal" or "boltdb".
	LogStore string `json:"log_store"`
	// SegmentBytes is one WAL segment's size (0 for BoltDB): with one
	// snapshot it sets the bound the disk target is judged against.
	SegmentBytes uint64     `json:"segment_bytes,omitempty"`
	Nodes        []DiskNode `json:"nodes"`
}

// DiskNode is one node's data dir.
type DiskNode struct {
	ID     string `json:"id"`
	Leader bool   `json:"leader"`
	// LogStoreBytes is the log and stable store: every file under wal/,
	// or raft.db.
	LogStoreBytes  uint64 `json:"log_store_bytes"`
	SnapshotsBytes uint64 `json:"snapshots_bytes"`
	// NewestSnapshotBytes is the newest snapshot alone.
	NewestSnapshotBytes uint64 `json:"newest_snapshot_bytes"`
	DataDirBytes        uint64 `json:"data_dir_bytes"`
}

// DiskBoundFactor is the disk target: log store plus snapshots stay under
// this many times one snapshot plus one segment.
const DiskBoundFactor = 3

// Target judges every node's log store plus snapshots against
// DiskBoundFactor × (its newest snapshot + one segment).
func (d *Disk) Target() Target {
	met := len(d.Nodes) > 0
	worst := 0.0
	for _, n := range d.Nodes {
		bound := float64(DiskBoundFactor) * float64(n.NewestSnapshotBytes+d.SegmentBytes)
		used := float64(n.LogStoreBytes + n.SnapshotsBytes)
		if bound == 0 || used > bound {
			met = false
		}
		if bound > 0 {
			worst = max(worst, used/bound)
		}
	}
	verdict := "not met"
	if met {
		verdict = "met"
	}
	return Target{Met: met, Text: fmt.Sprintf("log store + snapshots <= %d x (newest snapshot + one %s segment) on every node "+
		"after %d writes: at most %.2f of the bound: %s", DiskBoundFactor, mib(d.SegmentBytes)+" MiB", d.Writes, worst, verdict)}
}

// Repeated is an interval measured several times.
type Repeated struct {
	Name string `json:"name"`
	// Seconds are the measurements in the order taken.
	Seconds       []float64 `json:"seconds"`
	MedianSeconds float64   `json:"median_seconds"`
	MaxSeconds    float64   `json:"max_seconds"`
	Note          string    `json:"note,omitempty"`
	// Target is the goal the figures are judged against, or nil.
	Target *Target `json:"target,omitempty"`
}

// Target is a goal and whether the measurement met it.
type Target struct {
	Text string `json:"text"`
	Met  bool   `json:"met"`
}

// NewRepeated summarises seconds, which must not be empty.
func NewRepeated(name string, seconds []float64, note string) Repeated {
	return Repeated{Name: name, Seconds: seconds, MedianSeconds: Median(seconds), MaxSeconds: slices.Max(seconds), Note: note}
}

// Median is the middle of xs, or the mean of the two middle values when
// their number is even; 0 for none. xs is not modified.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Crash is one fourth agent: started, promoted, then killed with SIGKILL
// and pruned by the leader's autopilot. Seconds from the start of its
// process, and from the kill signal.
type Crash struct {
	ID              string  `json:"id"`
	NonVoterSeconds float64 `json:"nonvoter_seconds"`
	VoterSeconds    float64 `json:"voter_seconds"`
	DeadSeconds     float64 `json:"dead_seconds"`
	PrunedSeconds   float64 `json:"pruned_seconds"`
}

// DeadToPrunedSeconds is how long the leader kept a server it saw dead.
func (c Crash) DeadToPrunedSeconds() float64 { return c.PrunedSeconds - c.DeadSeconds }

// Failover is one kill -9 of the leader, writes through the survivors
// until one succeeds, and the restart of the killed agent until the
// cluster is whole again.
type Failover struct {
	Killed    string `json:"killed"`
	NewLeader string `json:"new_leader"`
	// Seconds is from the kill signal to the first successful write.
	Seconds float64 `json:"seconds"`
	// Attempts counts the writes tried, TimedOut those cut off by the
	// per-attempt timeout; LastError is the last failure before success.
	Attempts int `json:"attempts"`
	TimedOut int `json:"timed_out"`
	// Cut are the attempts the timeout ended: where each went and when it
	// began, so what one could have added to Seconds is bounded.
	Cut       []CutAttempt `json:"cut,omitempty"`
	LastError string       `json:"last_error,omitempty"`
	// RejoinSeconds is from the restart until the cluster was whole: three
	// voters under one leader, all caught up and alive in its gossip.
	RejoinSeconds float64 `json:"rejoin_seconds"`
	// TermBefore is the leader's term before the kill, TermAfter the term
	// once whole again: one election makes them differ by one.
	TermBefore uint64 `json:"term_before"`
	TermAfter  uint64 `json:"term_after"`
}

// CutAttempt is a write attempt ended by the per-attempt timeout.
type CutAttempt struct {
	Via string `json:"via"`
	// StartSeconds is from the kill signal to the attempt's start.
	StartSeconds float64 `json:"start_seconds"`
}

// Reference is what a replicated write costs on this machine at the very
// least: two durable appends (leader and follower) and one round trip.
type Reference struct {
	// Fsyncs appends of FsyncBytes, each followed by fdatasync, in the
	// filesystem of the agents' data dirs.
	Fsyncs        int     `json:"fsyncs"`
	FsyncBytes    int     `json:"fsync_bytes"`
	FsyncMedianMs float64 `json:"fsync_median_ms"`
	FsyncP99Ms    float64 `json:"fsync_p99_ms"`
	// RTTs round trips of RTTBytes over one kept-alive loopback connection.
	RTTs        int     `json:"rtts"`
	RTTBytes    int     `json:"rtt_bytes"`
	RTTMedianMs float64 `json:"rtt_median_ms"`
	// FloorMs is two fsyncs plus a round trip, TargetMs 1.5 times that.
	FloorMs  float64 `json:"floor_ms"`
	TargetMs float64 `json:"target_ms"`
	// PutP50Ms is the single-client PUT median; Met is nil when no
	// single-client PUT level ran.
	PutP50Ms float64 `json:"put_p50_ms,omitempty"`
	Met      *bool   `json:"met,omitempty"`
	// PutRounds is how many rounds PutP50Ms is the median of, when more
	// than one.
	PutRounds int `json:"put_rounds,omitempty"`
}

// TargetFactor is how far above the floor the single-client PUT median may
// be.
const TargetFactor = 1.5

// SetFloor derives the floor and the target from the medians.
func (r *Reference) SetFloor() {
	r.FloorMs = 2*r.FsyncMedianMs + r.RTTMedianMs
	r.TargetMs = TargetFactor * r.FloorMs
}

// Judge records the single-client PUT median and whether it met the
// target; call SetFloor first.
func (r *Reference) Judge(putP50Ms float64) {
	met := putP50Ms <= r.TargetMs
	r.PutP50Ms, r.Met = putP50Ms, &met
}

// Line is the comparison in one sentence.
func (r *Reference) Line() string {
	s := fmt.Sprintf("2 fsyncs + RTT = %.3f ms (fdatasync of %d B: median %.3f ms, p99 %.3f ms over %d; loopback RTT median %.3f ms over %d), ×%.1f = %.3f ms",
		r.FloorMs, r.FsyncBytes, r.FsyncMedianMs, r.FsyncP99Ms, r.Fsyncs, r.RTTMedianMs, r.RTTs, TargetFactor, r.TargetMs)
	if r.Met == nil {
		return s + ", no single-client PUT level measured"
	}
	of := ""
	if r.PutRounds > 1 {
		of = fmt.Sprintf(" (median of %d rounds)", r.PutRounds)
	}
	return s + fmt.Sprintf(", measured single-client PUT p50 = %.3f ms%s: %s", r.PutP50Ms, of, metText(*r.Met))
}

func metText(met bool) string {
	if met {
		return "met"
	}
	return "not met"
}
