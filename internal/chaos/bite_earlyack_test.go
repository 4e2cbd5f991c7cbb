//go:build chaos_bite_earlyack

package chaos_test

func biteCompiledIn(tags string) bool { return tags == "chaos_bite_earlyack" }
