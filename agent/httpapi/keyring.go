package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/clusteragent/agent/api"
)

// Keyring operations, the op argument of Backend.Keyring.
const (
	KeyringList    = api.KeyringList
	KeyringInstall = api.KeyringInstall
	KeyringUse     = api.KeyringUse
	KeyringRemove  = api.KeyringRemove
)

func (s *Server) keyringRoutes() {
	s.mux.HandleFunc("GET /v1/agent/keyring", s.handleKeyringList)
	for _, op := range []string{KeyringInstall, KeyringUse, KeyringRemove} {
		s.mux.HandleFunc("POST /v1/agent/keyring/"+op, func(w http.ResponseWriter, r *http.Request) {
			s.handleKeyringChange(w, r, op)
		})
	}
}

// handleKeyringList lists the keys of every member. Keyring calls act on
// the gossip pool through this agent and are never forwarded.
func (s *Server) handleKeyringList(w http.ResponseWriter, r *http.Request) {
	s.keyring(w, r, KeyringList, "")
}

func (s *Server) handleKeyringChange(w http.ResponseWriter, r *http.Request, op string) {
	key, err := readKeyringKey(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.keyring(w, r, op, key)
}

func (s *Server) keyring(w http.ResponseWriter, r *http.Request, op, key string) {
	resp, err := s.b.Keyring(r.Context(), op, key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if resp.Keys == nil {
		resp.Keys = []KeyringKey{}
	}
	if resp.Nodes == nil {
		resp.Nodes = []KeyringNode{}
	}
	writeJSON(w, http.StatusOK, resp)
}

// readKeyringKey reads {"key":"BASE64"} and checks the key's form. Its
// errors say what is wrong without quoting the body, which holds a secret.
func readKeyringKey(body io.Reader) (string, error) {
	const form = `send {"key":"BASE64"}`
	var req KeyringRequest
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var syn *json.SyntaxError
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return "", err
		case errors.Is(err, io.EOF):
			return "", fmt.Errorf("%w: empty body; %s", ErrBadRequest, form)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return "", fmt.Errorf("%w: the body is not valid JSON (it ends early); %s", ErrBadRequest, form)
		case errors.As(err, &syn):
			return "", fmt.Errorf("%w: the body is not valid JSON (at byte %d); %s", ErrBadRequest, syn.Offset, form)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return "", fmt.Errorf("%w: the body has fields other than \"key\"; %s", ErrBadRequest, form)
		default:
			return "", fmt.Errorf("%w: the body is not %s", ErrBadRequest, strings.TrimPrefix(form, "send "))
		}
	}
	if dec.More() {
		return "", fmt.Errorf("%w: the body holds more than one JSON value; %s", ErrBadRequest, form)
	}
	if err := checkGossipKey(req.Key); err != nil {
		return "", err
	}
	return req.Key, nil
}

// checkGossipKey refuses keys that cannot be gossip keys before the
// backend is asked.
func checkGossipKey(key string) error {
	if strings.TrimSpace(key) == "" {
		return fmt.Errorf("%w: missing \"key\": the base64 gossip key (agent keygen makes one)", ErrBadRequest)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(key))
	if err != nil {
		return fmt.Errorf("%w: \"key\" is not valid base64", ErrBadRequest)
	}
	switch len(raw) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("%w: \"key\" is %d bytes; a gossip key is 16, 24 or 32 bytes", ErrBadRequest, len(raw))
}
