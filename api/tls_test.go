package api_test

import (
	"encoding/pem"
	"net/http/httptest"
)

// pemOf is the PEM of srv's self-signed certificate, its own CA.
func pemOf(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}
