package gossippool

import (
	"context"
	"testing"
	"time"
)

func TestMeasureSmallPool(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Measure(ctx, 5, "lan")
	if err != nil {
		t.Fatal(err)
	}
	if res.Members != 5 || res.Converged <= 0 || res.FirstDead <= 0 || res.AllDead < res.FirstDead {
		t.Fatalf("implausible result %+v", res)
	}
	t.Logf("5 members: converged %s, crash seen first %s, by all %s", res.Converged, res.FirstDead, res.AllDead)
}

func TestMeasureRefusesTinyPool(t *testing.T) {
	if _, err := Measure(context.Background(), 2, "lan"); err == nil {
		t.Fatal("a pool of 2 was accepted")
	}
}
