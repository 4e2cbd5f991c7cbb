package discovery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func keyringOp(t *testing.T, g *Gossip, op KeyOp, key string) (KeyringResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return g.KeyringOp(ctx, op, key)
}

// checkKeys returns nil when a list answer shows exactly want (base64 keys,
// primary first) on every one of n members.
func checkKeys(resp KeyringResponse, n int, want ...string) error {
	if resp.NumNodes != n || len(resp.Failed()) > 0 {
		return fmt.Errorf("list answered by %d members (failed %v), want %d", resp.NumNodes, resp.Failed(), n)
	}
	if len(resp.Keys) != len(want) {
		return fmt.Errorf("list shows %d keys, want %d: %+v", len(resp.Keys), len(want), resp.Keys)
	}
	for i, k := range resp.Keys {
		if k.Key != want[i] || k.Fingerprint != KeyFingerprint(want[i]) || k.Members != n {
			return fmt.Errorf("key %d is %s on %d members, want %s on %d", i, k.Fingerprint, k.Members, KeyFingerprint(want[i]), n)
		}
		if primaries := len(k.PrimaryOn); (i == 0 && primaries != n) || (i > 0 && primaries != 0) {
			return fmt.Errorf("key %s is primary on %v", k.Fingerprint, k.PrimaryOn)
		}
	}
	for _, node := range resp.Nodes {
		if !node.Encrypted || node.Primary != KeyFingerprint(want[0]) || len(node.Keys) != len(want) {
			return fmt.Errorf("member %s: %+v", node.ID, node)
		}
	}
	return nil
}

func TestKeyringRotationAcrossPool(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	old, next, other := b64(testKey(1, 32)), b64(testKey(2, 32)), b64(testKey(3, 16))
	oldKey := withKey(testKey(1, 32))
	a := c.start(c.config("a", oldKey, dataDir(t.TempDir())))
	b := c.start(c.config("b", oldKey, seeds(a.Addr())))
	d := c.start(c.config("d", oldKey, seeds(a.Addr())))
	pool := []*Gossip{a, b, d}
	waitStatuses(t, allAlive(pool...), pool...)

	resp, err := keyringOp(t, b, KeyOpList, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkKeys(resp, 3, old); err != nil {
		t.Fatal(err)
	}
	// use of a key nobody has, and removing the primary, change nothing.
	if _, err := keyringOp(t, a, KeyOpUse, next); !errors.Is(err, ErrKeyNotInstalled) || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("use before install: %v", err)
	}
	_, err = keyringOp(t, a, KeyOpRemove, old)
	if !errors.Is(err, ErrRemovePrimary) || strings.Contains(err.Error(), old) {
		t.Fatalf("remove primary: %v", err)
	}

	// Each step from a different member; every member applies it.
	if resp, err = keyringOp(t, a, KeyOpInstall, next); err != nil || resp.NumNodes != 3 || resp.Fingerprint != KeyFingerprint(next) {
		t.Fatalf("install: %+v, %v", resp, err)
	}
	if _, err := keyringOp(t, a, KeyOpInstall, next); err != nil {
		t.Fatalf("install again (idempotent): %v", err)
	}
	if resp, _ = keyringOp(t, d, KeyOpList, ""); checkKeys(resp, 3, old, next) != nil {
		t.Fatal(checkKeys(resp, 3, old, next))
	}
	if _, err := keyringOp(t, b, KeyOpUse, next); err != nil {
		t.Fatalf("use: %v", err)
	}
	if _, err := keyringOp(t, d, KeyOpRemove, old); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, err := keyringOp(t, d, KeyOpRemove, old); err != nil {
		t.Fatalf("remove again (idempotent): %v", err)
	}
	resp, _ = keyringOp(t, a, KeyOpList, "")
	if err := checkKeys(resp, 3, next); err != nil {
		t.Fatal(err)
	}
	for _, g := range pool {
		if primary, all := g.ListKeys(); primary != next || len(all) != 1 {
			t.Fatalf("%s holds %d keys, primary %s", g.cfg.NodeID, len(all), KeyFingerprint(primary))
		}
	}
	if err := checkStatuses(a, allAlive(pool...)); err != nil {
		t.Fatalf("rotation disturbed membership: %v", err)
	}

	// A node that only knows the removed key cannot join; one with the
	// rotated key can.
	stale := c.start(c.config("stale", oldKey, seeds(a.Addr(), b.Addr())))
	waitAttempts(t, 3, stale)
	holdFor(t, time.Second, func() error {
		for _, g := range pool {
			if _, ok := g.Member(stale.cfg.NodeID); ok {
				return fmt.Errorf("%s sees the node with the old key", g.cfg.NodeID)
			}
		}
		return checkStatuses(stale, allAlive(stale))
	})
	fresh := c.start(c.config("fresh", withKey(testKey(2, 32)), seeds(a.Addr())))
	waitStatuses(t, allAlive(append(pool, fresh)...), append(pool, fresh)...)

	// Install with a key the requester lacks locally still reaches everyone.
	if _, err := keyringOp(t, fresh, KeyOpInstall, other); err != nil {
		t.Fatal(err)
	}
	resp, _ = keyringOp(t, a, KeyOpList, "")
	if err := checkKeys(resp, 4, next, other); err != nil {
		t.Fatal(err)
	}
	if logs := c.logs.String(); strings.Contains(logs, old) || strings.Contains(logs, next) || strings.Contains(logs, other) {
		t.Error("a key appears in the logs")
	}
}

func TestKeyringRequestsOnlyFromTheSameCluster(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	key := withKey(testKey(1, 32))
	next := b64(testKey(2, 32))
	a := c.start(c.config("a", key))
	b := c.start(c.config("b", key, seeds(a.Addr())))
	// A node with no cluster ID yet may be in the pool, but may not change
	// the cluster's keys.
	fresh := c.start(c.config("fresh", key, seeds(a.Addr()), func(cfg *Config) { cfg.Meta.ClusterID = "" }))
	waitStatuses(t, allAlive(a, b, fresh), a, b, fresh)

	resp, err := keyringOp(t, fresh, KeyOpInstall, next)
	if !errors.Is(err, ErrKeyringMembers) {
		t.Fatalf("install from a node outside the cluster: %v", err)
	}
	failed := resp.Failed()
	if len(failed) != 2 || !strings.Contains(failed[0].Error, "carries no cluster ID") {
		t.Fatalf("failed members %+v, want a and b refusing", failed)
	}
	if !strings.Contains(err.Error(), "2 of 3") || !strings.Contains(err.Error(), a.cfg.NodeID) || !strings.Contains(err.Error(), b.cfg.NodeID) {
		t.Errorf("error %q does not list the failed members", err)
	}
	for _, g := range []*Gossip{a, b} {
		if _, all := g.ListKeys(); len(all) != 1 {
			t.Errorf("%s accepted a key from outside its cluster", g.cfg.NodeID)
		}
	}
	// The other way round is fine: fresh has no cluster to protect.
	if _, err := keyringOp(t, a, KeyOpInstall, next); err != nil {
		t.Fatal(err)
	}
	if _, all := fresh.ListKeys(); len(all) != 2 {
		t.Errorf("fresh node did not get the key from its pool")
	}
}

func TestAdmitKeyringRequest(t *testing.T) {
	g := &Gossip{}
	g.meta.Store(&localMeta{meta: Meta{ID: "me", ClusterID: "c1"}})
	cases := map[string]struct {
		req    keyringRequest
		sender Meta
		want   string
	}{
		"same cluster":      {keyringRequest{Version: 1, From: "p", ClusterID: "c1"}, Meta{ClusterID: "c1"}, ""},
		"other cluster":     {keyringRequest{Version: 1, From: "p", ClusterID: "c2"}, Meta{ClusterID: "c2"}, `is for cluster "c2"`},
		"lies about it":     {keyringRequest{Version: 1, From: "p", ClusterID: "c1"}, Meta{ClusterID: "c2"}, `p gossips cluster "c2"`},
		"no cluster":        {keyringRequest{Version: 1, From: "p"}, Meta{}, "carries no cluster ID"},
		"unknown version":   {keyringRequest{Version: 9, From: "p", ClusterID: "c1"}, Meta{ClusterID: "c1"}, "version 9"},
		"fresh sender lies": {keyringRequest{Version: 1, From: "p", ClusterID: "c1"}, Meta{}, "gossips cluster"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := g.admitKeyringRequest(tc.req, tc.sender)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestCollectReportsMissingAnswers(t *testing.T) {
	g := &Gossip{ctx: context.Background()}
	p := &pendingOp{targets: map[string]bool{"a": true, "b": true}, ch: make(chan keyringReply, 4)}
	p.ch <- keyringReply{From: "a"}
	p.ch <- keyringReply{From: "a", Error: "duplicate"}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := map[string]keyringReply{"me": {From: "me"}}
	p.targets["me"] = true
	g.collect(ctx, p, out)
	if out["b"].Error != "no answer before the deadline" {
		t.Errorf("b: %+v", out["b"])
	}
	resp := buildKeyringResponse(KeyOpInstall, out, nil)
	err := failuresError(resp)
	if !errors.Is(err, ErrKeyringMembers) || !strings.Contains(err.Error(), "1 of 3: b: no answer") {
		t.Errorf("error %v", err)
	}
}

func TestBuildKeyringResponse(t *testing.T) {
	h1, h2 := keyHash(testKey(1, 32)), keyHash(testKey(2, 32))
	replies := map[string]keyringReply{
		"n3": {From: "n3", Encrypted: true, Keys: []string{h2, h1}},
		"n1": {From: "n1", Encrypted: true, Keys: []string{h1, h2}},
		"n2": {From: "n2", Encrypted: true, Keys: []string{h1}},
		"n4": {From: "n4"},
		"n5": {From: "n5", Error: "no answer before the deadline"},
	}
	resp := buildKeyringResponse(KeyOpList, replies, map[string]string{h1: "K1"})
	if resp.NumNodes != 5 || len(resp.Nodes) != 5 || resp.Nodes[0].ID != "n1" || len(resp.Failed()) != 1 {
		t.Fatalf("nodes %+v", resp.Nodes)
	}
	want := []KeyringKey{
		{Key: "K1", Fingerprint: fingerprint(h1), Members: 3, PrimaryOn: []string{"n1", "n2"}},
		{Key: "", Fingerprint: fingerprint(h2), Members: 2, PrimaryOn: []string{"n3"}},
	}
	if len(resp.Keys) != 2 {
		t.Fatalf("keys %+v", resp.Keys)
	}
	for i, w := range want {
		g := resp.Keys[i]
		if g.Key != w.Key || g.Fingerprint != w.Fingerprint || g.Members != w.Members || !slices.Equal(g.PrimaryOn, w.PrimaryOn) {
			t.Errorf("key %d = %+v, want %+v", i, g, w)
		}
	}
	if n4 := resp.Nodes[3]; n4.Encrypted || n4.Primary != "" || n4.Error != "" {
		t.Errorf("unencrypted member: %+v", n4)
	}
}

func TestAllowUnencryptedBridgesKeylessNodes(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	key := testKey(1, 32)
	rolling := func(cfg *Config) { cfg.SecretKey = key; cfg.AllowUnencrypted = true }

	// A keyless node joins an encrypted one that allows plain gossip...
	enc := c.start(c.config("enc", rolling))
	plain := c.start(c.config("plain", seeds(enc.Addr())))
	waitStatuses(t, allAlive(enc, plain), enc, plain)
	// ...and an encrypted node joins a keyless one.
	plain2 := c.start(c.config("plain2"))
	enc2 := c.start(c.config("enc2", rolling, seeds(plain2.Addr())))
	waitStatuses(t, allAlive(enc2, plain2), enc2, plain2)

	if !strings.Contains(c.logs.String(), "allow_unencrypted is on") {
		t.Error("no startup warning for allow_unencrypted")
	}
	// Key material never travels in the clear.
	if _, err := keyringOp(t, enc, KeyOpInstall, b64(testKey(2, 32))); !errors.Is(err, ErrUnencryptedTransport) {
		t.Errorf("install with allow_unencrypted: %v", err)
	}
	// List works and shows the keyless member.
	resp, err := keyringOp(t, enc, KeyOpList, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Keys) != 1 || resp.Keys[0].Members != 1 || resp.NumNodes != 2 {
		t.Errorf("list during the rollout: %+v", resp)
	}
}
