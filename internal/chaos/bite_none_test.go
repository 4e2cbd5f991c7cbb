//go:build !chaos_bite_stalereads && !chaos_bite_earlyack

package chaos_test

// biteCompiledIn reports whether the test binary was built with tags.
func biteCompiledIn(tags string) bool { return tags == "" }
