//go:build !chaos_bite_stalereads

package agent

import "net/http"

// biteStaleReads returns h unchanged. Only binaries built with the
// chaos_bite_stalereads tag, for the fault-injection suite and never for
// production, replace it with a version that serves linearizable reads
// from the local store (see bite_stalereads_on.go).
func biteStaleReads(h http.Handler) http.Handler { return h }
