// Package kubernetes has no library code. It is its own Go module so that
// the Kubernetes API types its test decodes the manifests into stay out of
// the agent's module graph. The test decodes every manifest in this
// directory strictly (an unknown field is an error) and checks what
// README.md promises: probes, seeds, disruption budget, security context,
// volumes.
package kubernetes
