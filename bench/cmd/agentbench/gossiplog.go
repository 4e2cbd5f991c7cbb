package main

import (
	"bufio"
	"os"
	"strings"
)

// gossipTally is what agents' logs say about false deaths: "member failed"
// lines for members that were not killed, and memberlist's refutations.
type gossipTally struct {
	falseDeaths, refutations int
}

// tallyGossipLog adds what one agent log says, ignoring the failures of
// killed (the member the bench killed on purpose). A log that cannot be
// read adds nothing.
func (t *gossipTally) tallyGossipLog(path, killed string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		t.line(sc.Text(), killed)
	}
}

// line counts one log line.
func (t *gossipTally) line(s, killed string) {
	switch {
	case strings.Contains(s, "Refuting a"):
		t.refutations++
	case strings.Contains(s, "member failed"):
		if !strings.Contains(s, "member="+killed+" ") && !strings.HasSuffix(s, "member="+killed) {
			t.falseDeaths++
		}
	}
}
