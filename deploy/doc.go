// Package deploy has no library code. Its tests check what the repository
// ships for running the agent: the scratch image built from Dockerfile
// (alone on a network the test creates, with address templates, and as
// the three-agent cluster of docker-compose.yml) and the systemd unit in
// deploy/systemd. The container tests need a Docker engine (and
// docker-compose for the compose one), the unit check systemd-analyze;
// each skips with the reason when its tool is missing. The Kubernetes
// manifests are checked by their own module in deploy/kubernetes.
package deploy
