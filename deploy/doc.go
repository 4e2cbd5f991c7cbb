// Package deploy has no library code. Its tests check the container quick
// start at the repository root: the scratch image built from Dockerfile and
// the three-agent cluster in docker-compose.yml. They need a Docker engine
// and docker-compose, and skip with the reason when either is missing.
package deploy
