package load

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := Percentile(d, c.p); got != c.want {
			t.Errorf("Percentile(1..100ms, %v) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := Percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("Percentile of one = %v, want 7", got)
	}
}

func TestRunCountsOpsAndErrors(t *testing.T) {
	boom := errors.New("boom")
	res, err := Run(context.Background(), Config{
		Name:     "x",
		Clients:  4,
		Warmup:   20 * time.Millisecond,
		Duration: 100 * time.Millisecond,
		NewOp: func(worker int) (Op, error) {
			return func(ctx context.Context, seq int) error {
				if worker == 0 && seq%2 == 1 {
					return boom
				}
				time.Sleep(time.Millisecond) // the operation's own cost, not synchronisation
				return nil
			}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops == 0 || res.Errors == 0 {
		t.Fatalf("ops %d errors %d; want both > 0", res.Ops, res.Errors)
	}
	if res.FirstError != boom.Error() {
		t.Errorf("first error %q, want %q", res.FirstError, boom)
	}
	if res.Seconds < 0.1 || res.Seconds > 1 {
		t.Errorf("measured %v s, want about 0.1", res.Seconds)
	}
	if !(res.P50Ms >= 1 && res.P50Ms <= res.P99Ms && res.P99Ms <= res.MaxMs) {
		t.Errorf("latencies out of order or too small: %+v", res)
	}
	if res.OpsPerSec <= 0 || res.Clients != 4 || res.Name != "x" {
		t.Errorf("result %+v", res)
	}
}

func TestRunRejectsBadConfigAndSetupErrors(t *testing.T) {
	if _, err := Run(context.Background(), Config{Name: "x", Clients: 0, Duration: time.Second}); err == nil {
		t.Error("Clients 0 accepted")
	}
	setup := errors.New("no client")
	_, err := Run(context.Background(), Config{Name: "x", Clients: 2, Duration: time.Second,
		NewOp: func(int) (Op, error) { return nil, setup }})
	if !errors.Is(err, setup) {
		t.Errorf("err = %v, want the setup error", err)
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Config{Name: "x", Clients: 2, Duration: time.Hour,
			NewOp: func(int) (Op, error) {
				return func(ctx context.Context, _ int) error {
					<-ctx.Done()
					return ctx.Err()
				}, nil
			}})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestPlanHelpers(t *testing.T) {
	c, err := ParseClients("1, 16,64")
	if err != nil || len(c) != 3 || c[0] != 1 || c[1] != 16 || c[2] != 64 {
		t.Fatalf("ParseClients = %v, %v", c, err)
	}
	for _, bad := range []string{"", "0", "1,x", "-3"} {
		if _, err := ParseClients(bad); err == nil {
			t.Errorf("ParseClients(%q) accepted", bad)
		}
	}
	if v := Value(256); len(v) != 256 || string(v[:3]) != "abc" {
		t.Errorf("Value(256) = %q...", v[:3])
	}
	if PutKey(3, 1024+5) != PutKey(3, 5) || PutKey(3, 5) == PutKey(4, 5) {
		t.Error("PutKey does not cycle per worker")
	}
	seen := map[string]bool{}
	for s := range 2 * GetKeys {
		seen[GetKey(1, s)] = true
	}
	if len(seen) != GetKeys {
		t.Errorf("GetKey covers %d keys, want %d", len(seen), GetKeys)
	}
	l := Plan{Clients: []int{1, 16}}.Levels("put", "get")
	if len(l) != 4 || l[0] != (Level{"put", 1}) || l[3] != (Level{"get", 16}) {
		t.Errorf("Levels = %v", l)
	}
}
