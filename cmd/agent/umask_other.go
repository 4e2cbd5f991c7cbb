//go:build !unix

package main

// restrictUmask does nothing where there is no umask; the data dir's own
// permissions are the protection there.
func restrictUmask() {}
