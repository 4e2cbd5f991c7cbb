package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/clusteragent/agent/api"
)

// exampleAgent stands in for a running agent, so the example runs anywhere.
func exampleAgent() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(api.HeaderIndex, "7")
		switch {
		case r.Method == http.MethodPut && r.URL.Query().Get("cas") == "0":
			_, _ = io.WriteString(w, `{"ok":false,"index":7}`)
		case r.Method == http.MethodPut:
			_, _ = io.WriteString(w, `{"ok":true,"index":7}`)
		case strings.HasSuffix(r.URL.Path, "/missing"):
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"key \"missing\" not found"}`)
		default:
			_, _ = io.WriteString(w, `{"key":"config/mode","value":"ZmFzdA==","create_index":7,"modify_index":7}`)
		}
	}))
}

func Example() {
	agent := exampleAgent()
	defer agent.Close()

	// api.DefaultConfig() reads $AGENT_HTTP_ADDR and $AGENT_HTTP_TOKEN.
	client, err := api.NewClient(api.Config{Address: agent.URL, Timeout: 30 * time.Second})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	w, err := client.KVPut(ctx, "config/mode", []byte("fast"), nil)
	fmt.Println("put at index", w.Index, err)

	e, meta, err := client.KVGet(ctx, "config/mode", nil)
	fmt.Printf("%s = %s (index %d) %v\n", e.Key, e.Value, meta.Index, err)

	// Only if absent: a compare-and-set with index 0.
	_, err = client.KVPut(ctx, "config/mode", []byte("slow"), &api.PutOptions{CAS: api.Index(0)})
	fmt.Println("cas failed:", errors.Is(err, api.ErrCASFailed))

	_, _, err = client.KVGet(ctx, "missing", nil)
	fmt.Println("not found:", errors.Is(err, api.ErrNotFound), "-", err)
	// Output:
	// put at index 7 <nil>
	// config/mode = fast (index 7) <nil>
	// cas failed: true
	// not found: true - key "missing" not found
}

// A blocking read waits for the key to change after the index held; a
// watch loop passes each answer's index to the next read.
func ExampleClient_KVGet_blocking() {
	agent := exampleAgent()
	defer agent.Close()
	client, _ := api.NewClient(api.Config{Address: agent.URL})

	var index uint64
	for i := 0; i < 2; i++ {
		e, meta, err := client.KVGet(context.Background(), "config/mode",
			&api.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Minute})
		if err != nil && !errors.Is(err, api.ErrNotFound) {
			return // back off and retry in a real loop
		}
		fmt.Printf("%s changed: %s\n", e.Key, e.Value)
		index = meta.Index
	}
	// Output:
	// config/mode changed: fast
	// config/mode changed: fast
}
