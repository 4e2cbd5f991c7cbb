// Package report holds the results of a benchmark run and renders them as
// one table: text for the terminal, Markdown and JSON for the results
// folder. With etcd's results beside the agent's, each row carries the
// ratio ours/etcd.
package report

import (
	"runtime"
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
}

// Memory is the resident set size of the leader's process.
type Memory struct {
	// IdleRSSBytes is measured once the cluster has formed, before any
	// load.
	IdleRSSBytes uint64 `json:"idle_rss_bytes"`
	// LoadRSSBytes is the largest sample while the put load ran with
	// LoadClients clients.
	LoadRSSBytes uint64 `json:"load_rss_bytes"`
	LoadClients  int    `json:"load_clients"`
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
	Agent   Side      `json:"agent"`
	// Etcd is nil unless the run compared against etcd.
	Etcd *Side `json:"etcd,omitempty"`
	// Timings are the agent's membership timings, in the order measured.
	Timings []Timing `json:"timings,omitempty"`
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

// find is the result of side for the level, or nil.
func (s *Side) find(name string, clients int) *load.Result {
	if s == nil {
		return nil
	}
	for i := range s.Results {
		if s.Results[i].Name == name && s.Results[i].Clients == clients {
			return &s.Results[i]
		}
	}
	return nil
}

// Disk is what many writes left on disk, snapshots and log compaction on.
type Disk struct {
	Writes     int        `json:"writes"`
	Clients    int        `json:"clients"`
	Seconds    float64    `json:"seconds"`
	Errors     int        `json:"errors"`
	FirstError string     `json:"first_error,omitempty"`
	Nodes      []DiskNode `json:"nodes"`
}

// DiskNode is one node's data dir.
type DiskNode struct {
	ID             string `json:"id"`
	Leader         bool   `json:"leader"`
	RaftDBBytes    uint64 `json:"raft_db_bytes"`
	SnapshotsBytes uint64 `json:"snapshots_bytes"`
	DataDirBytes   uint64 `json:"data_dir_bytes"`
}
