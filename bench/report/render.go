package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

// rows is the table: a header, then one row per load level of the agent,
// then memory. With etcd, every row has etcd's figures and the ratios.
// With several rounds a level's figures are the medians over its rounds
// and a ratio is the median of the per-round ratios, their range in
// brackets.
func (r *Report) rows() [][]string {
	head := []string{"operation", "clients", "ops/s", "p50 ms", "p99 ms", "max ms", "errors", "elections"}
	if r.Etcd != nil {
		head = append(head, "etcd ops/s", "etcd p50 ms", "etcd p99 ms", "etcd max ms", "ops/s ours/etcd", "p99 ours/etcd")
	}
	out := [][]string{head}
	for _, l := range r.Levels() {
		a := l.Agent
		row := []string{l.Name, strconv.Itoa(l.Clients), num(a.OpsPerSec, 0), num(a.P50Ms, 2), num(a.P99Ms, 2), num(a.MaxMs, 2), strconv.Itoa(a.Errors),
			electionsCell(r.Agent.stabilities(l.Name, l.Clients), r.rounds() > 1)}
		if r.Etcd != nil {
			if e := l.Etcd; e != nil {
				row = append(row, num(e.OpsPerSec, 0), num(e.P50Ms, 2), num(e.P99Ms, 2), num(e.MaxMs, 2),
					l.OpsRatio.cell(), l.P99Ratio.cell())
			} else {
				row = append(row, "-", "-", "-", "-", "-", "-")
			}
		}
		out = append(out, row)
	}
	mem := func(label string, agent, etcd uint64) {
		row := []string{label, "", "", "", "", "", "", ""}
		row[2] = mib(agent)
		if r.Etcd != nil {
			row = append(row, mib(etcd), "", "", "", ratio(float64(agent), float64(etcd)), "")
		}
		out = append(out, row)
	}
	var eIdle, eLoad uint64
	if r.Etcd != nil {
		eIdle, eLoad = r.Etcd.Memory.IdleRSSBytes, r.Etcd.Memory.LoadRSSBytes
	}
	mem("leader RSS idle (MiB)", r.Agent.Memory.IdleRSSBytes, eIdle)
	loadLabel := fmt.Sprintf("leader RSS, %d-client put (MiB)", r.Agent.Memory.LoadClients)
	if n := r.rounds(); n > 1 {
		loadLabel = fmt.Sprintf("leader RSS, %d-client put, peak of %d rounds (MiB)", r.Agent.Memory.LoadClients, n)
	}
	mem(loadLabel, r.Agent.Memory.LoadRSSBytes, eLoad)
	return out
}

// electionsCell is the elections column of a level, summed over its
// rounds: "-" where terms were not read, "?" where they could not be,
// each leader change spelled out (with its round when there are several).
func electionsCell(ss []Stability, several bool) string {
	if len(ss) == 0 {
		return "-"
	}
	sum, unknown := 0, false
	var changes []string
	for _, s := range ss {
		e := s.Elections()
		if e < 0 {
			unknown = true
		} else {
			sum += e
		}
		if s.LeaderChanged() {
			c := fmt.Sprintf("leader %s → %s", orNone(s.LeaderBefore), orNone(s.LeaderAfter))
			if several {
				c += fmt.Sprintf(" in round %d", s.Round)
			}
			changes = append(changes, c)
		}
	}
	cell := strconv.Itoa(sum)
	switch {
	case unknown && len(ss) == 1:
		cell = "?"
	case unknown:
		cell += "?"
	}
	if len(changes) > 0 {
		cell += " (" + strings.Join(changes, ", ") + ")"
	}
	return cell
}

func orNone(id string) string {
	if id == "" {
		return "none"
	}
	return id
}

// Warnings flag the load levels during which the cluster held an
// election, changed leader, or could not be asked.
func (r *Report) Warnings() []string {
	var out []string
	for _, s := range r.Agent.Stability {
		if w := s.Warning(); w != "" {
			if r.rounds() > 1 && s.Round > 0 {
				w = fmt.Sprintf("round %d: %s", s.Round, w)
			}
			out = append(out, w)
		}
	}
	return out
}

// roundsNote explains the figures of several rounds; "" for one.
func (r *Report) roundsNote() string {
	n := r.rounds()
	if n == 1 {
		return ""
	}
	s := fmt.Sprintf("PUT and GET figures are medians of %d rounds, each figure on its own; errors and elections are summed over the rounds, a leader change names its round; RSS under load is the peak over the rounds", n)
	if r.Etcd != nil {
		s += "; each round ran our levels and then etcd's, and a ratio is the median of the per-round ratios ours/etcd, the lowest and highest of them in brackets"
	}
	return s
}

// repeatRows is the table of repeated timings, or nil without any.
func (r *Report) repeatRows() [][]string {
	if len(r.Repeats) == 0 {
		return nil
	}
	out := [][]string{{"repeated timing", "runs", "median s", "max s", "target", "each s", "note"}}
	for _, t := range r.Repeats {
		each := make([]string, len(t.Seconds))
		for i, v := range t.Seconds {
			each[i] = num(v, 3)
		}
		target := "-"
		if t.Target != nil {
			target = t.Target.Text + ": " + metText(t.Target.Met)
		}
		out = append(out, []string{t.Name, strconv.Itoa(len(t.Seconds)), num(t.MedianSeconds, 3), num(t.MaxSeconds, 3), target, strings.Join(each, " "), t.Note})
	}
	return out
}

// crashRows is the table of fourth agents, or nil without any.
func (r *Report) crashRows() [][]string {
	if len(r.Crashes) == 0 {
		return nil
	}
	out := [][]string{{"crash", "agent", "run → non-voter s", "run → voter s", "kill → dead s", "kill → pruned s", "dead → pruned s"}}
	for i, c := range r.Crashes {
		out = append(out, []string{strconv.Itoa(i + 1), c.ID, num(c.NonVoterSeconds, 3), num(c.VoterSeconds, 3),
			num(c.DeadSeconds, 3), num(c.PrunedSeconds, 3), num(c.DeadToPrunedSeconds(), 3)})
	}
	return out
}

// failoverRows is the table of leader kills, or nil without any.
func (r *Report) failoverRows() [][]string {
	if len(r.Failovers) == 0 {
		return nil
	}
	out := [][]string{{"failover", "killed", "new leader", "kill → first write s", "attempts", "timed out (to, began s)", "restart → whole s", "term before → whole", "last error before success"}}
	for i, f := range r.Failovers {
		last := f.LastError
		if last == "" {
			last = "-"
		}
		timedOut := strconv.Itoa(f.TimedOut)
		if len(f.Cut) > 0 {
			at := make([]string, len(f.Cut))
			for j, c := range f.Cut {
				at[j] = fmt.Sprintf("%s at %s", c.Via, num(c.StartSeconds, 3))
			}
			timedOut += " (" + strings.Join(at, ", ") + ")"
		}
		out = append(out, []string{strconv.Itoa(i + 1), f.Killed, f.NewLeader, num(f.Seconds, 3), strconv.Itoa(f.Attempts), timedOut,
			num(f.RejoinSeconds, 3), fmt.Sprintf("%d → %d", f.TermBefore, f.TermAfter), last})
	}
	return out
}

// tables are the tables after the load table, in order, nil ones left out.
func (r *Report) tables() [][][]string {
	var out [][][]string
	for _, t := range [][][]string{r.timingRows(), r.repeatRows(), r.crashRows(), r.failoverRows(), r.diskRows()} {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}

// timingRows is the table of one-off timings, or nil without timings.
func (r *Report) timingRows() [][]string {
	if len(r.Timings) == 0 {
		return nil
	}
	out := [][]string{{"agent timing", "seconds", "note"}}
	for _, t := range r.Timings {
		out = append(out, []string{t.Name, num(t.Seconds, 3), t.Note})
	}
	return out
}

// diskRows is the disk table, or nil without a disk measurement.
func (r *Report) diskRows() [][]string {
	d := r.Disk
	if d == nil {
		return nil
	}
	out := [][]string{{fmt.Sprintf("after %d writes", d.Writes), d.LogStore + " MiB", "snapshots MiB", "newest snapshot MiB", "data dir MiB", "note"}}
	for _, n := range d.Nodes {
		label := n.ID
		if n.Leader {
			label += " (leader)"
		}
		out = append(out, []string{label, mib(n.LogStoreBytes), mib(n.SnapshotsBytes), mib(n.NewestSnapshotBytes), mib(n.DataDirBytes), ""})
	}
	if len(d.Nodes) == 0 {
		out = append(out, []string{"no node running", "-", "-", "-", "-", ""})
	}
	note := fmt.Sprintf("%d clients, %.0f writes/s", d.Clients, float64(d.Writes)/max(d.Seconds, 1e-9))
	if d.Errors > 0 {
		note += fmt.Sprintf(", %d errors (first: %s)", d.Errors, d.FirstError)
	}
	out[len(out)-1][5] = note
	return out
}

// Text writes the tables for a terminal.
func (r *Report) Text(w io.Writer) error {
	var b strings.Builder
	b.WriteString(r.title() + "\n")
	writeText(&b, r.rows(), false)
	if n := r.roundsNote(); n != "" {
		b.WriteString(n + "\n")
	}
	if r.Reference != nil {
		b.WriteString("reference: " + r.Reference.Line() + "\n")
	}
	for _, t := range r.EtcdTargets() {
		b.WriteString("target: " + t.Line() + "\n")
	}
	if r.Disk != nil {
		b.WriteString("target: " + r.Disk.Target().Text + "\n")
	}
	for _, w := range r.Warnings() {
		b.WriteString("WARNING: " + w + "\n")
	}
	for _, t := range r.tables() {
		b.WriteString("\n")
		writeText(&b, t, true)
	}
	for _, n := range r.Notes {
		b.WriteString("note: " + n + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeText aligns rows in columns: the first left-aligned, which reads
// best for labels, the figures right-aligned; with lastIsText the last
// column (a note) follows unpadded.
func writeText(b *strings.Builder, rows [][]string, lastIsText bool) {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	for _, row := range rows {
		fmt.Fprintf(b, "%-*s", widths[0], row[0])
		for i, cell := range row[1:] {
			if lastIsText && i == len(row)-2 {
				fmt.Fprintf(b, "  %s", cell)
				continue
			}
			fmt.Fprintf(b, "  %*s", widths[i+1], cell)
		}
		b.WriteString("\n")
	}
}

// Markdown writes the tables as a Markdown document.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmark %s\n\n%s\n\n", r.Started.UTC().Format("2006-01-02 15:04:05 UTC"), r.title())
	writeMarkdown(&b, r.rows())
	b.WriteString("\nLatencies are per request, measured by the client; errors are not in them. " +
		"Ratios are ours/etcd: above 1 means more throughput, or a longer p99, than etcd. " +
		"Elections are the Raft terms begun between just before a level (warm-up included) and just after it.")
	if n := r.roundsNote(); n != "" {
		b.WriteString(" " + strings.ToUpper(n[:1]) + n[1:] + ".")
	}
	b.WriteString("\n")
	if r.Reference != nil {
		b.WriteString("\nReference: " + r.Reference.Line() + ".\n")
	}
	if ts := r.EtcdTargets(); len(ts) > 0 {
		b.WriteString("\nAgainst etcd, on the median ratio ours/etcd:\n\n")
		for _, t := range ts {
			b.WriteString("- " + t.Line() + "\n")
		}
	}
	if r.Disk != nil {
		b.WriteString("\nDisk: " + r.Disk.Target().Text + ".\n")
	}
	if w := r.Warnings(); len(w) > 0 {
		b.WriteString("\n")
		for _, x := range w {
			b.WriteString("- **Warning:** " + x + "\n")
		}
	}
	for _, t := range r.tables() {
		b.WriteString("\n")
		writeMarkdown(&b, t)
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			b.WriteString("- " + n + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// markdownCell keeps a cell (an error message, say) within its cell.
var markdownCell = strings.NewReplacer("|", `\|`, "\r\n", " ", "\n", " ")

func writeMarkdown(b *strings.Builder, rows [][]string) {
	for i, row := range rows {
		cells := make([]string, len(row))
		for j, c := range row {
			cells[j] = markdownCell.Replace(c)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
		if i == 0 {
			b.WriteString("| --- |" + strings.Repeat(" ---: |", len(row)-1) + "\n")
		}
	}
}

// WriteFiles writes the report as Markdown and JSON into dir, named by the
// start time, and as latest.md and latest.json. It returns the paths of
// the timestamped files.
func (r *Report) WriteFiles(dir string) (md, js string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	var mdBuf strings.Builder
	if err := r.Markdown(&mdBuf); err != nil {
		return "", "", err
	}
	// The summaries go into the JSON beside the raw rounds, for whoever
	// reads it without this package.
	jsBytes, err := json.MarshalIndent(struct {
		*Report
		Levels      []LevelSummary `json:"levels"`
		EtcdTargets []EtcdTarget   `json:"etcd_targets,omitempty"`
	}{r, r.Levels(), r.EtcdTargets()}, "", "  ")
	if err != nil {
		return "", "", err
	}
	stamp := r.Started.UTC().Format("20060102-150405")
	md = filepath.Join(dir, "bench-"+stamp+".md")
	js = filepath.Join(dir, "bench-"+stamp+".json")
	for path, data := range map[string][]byte{
		md: []byte(mdBuf.String()), js: append(jsBytes, '\n'),
		filepath.Join(dir, "latest.md"): []byte(mdBuf.String()), filepath.Join(dir, "latest.json"): append(jsBytes, '\n'),
	} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return "", "", err
		}
	}
	return md, js, nil
}

func (r *Report) title() string {
	p := r.Plan
	s := fmt.Sprintf("3 nodes on loopback, %s/%s, %d CPUs, %s; %d-byte values; each level %s after %s warm-up; keep-alive clients against the leader",
		r.Host.GOOS, r.Host.GOARCH, r.Host.CPUs, r.Host.GoVersion, p.ValueSize, p.Duration, p.Warmup)
	if r.LogStore != "" {
		s += "; log store " + r.LogStore
	}
	if r.Etcd != nil {
		s += "; etcd " + r.Etcd.Version + " through its Go client, one client per worker"
	}
	if n := r.rounds(); n > 1 {
		s += fmt.Sprintf("; PUT and GET: medians of %d rounds", n)
		if r.Etcd != nil {
			s += ", ours then etcd's in each"
		}
	}
	return s
}

func num(v float64, decimals int) string { return strconv.FormatFloat(v, 'f', decimals, 64) }

func ratio(ours, theirs float64) string {
	if theirs == 0 {
		return "-"
	}
	return num(ours/theirs, 2)
}

func mib(b uint64) string {
	if b == 0 {
		return "-"
	}
	return num(float64(b)/(1<<20), 1)
}
