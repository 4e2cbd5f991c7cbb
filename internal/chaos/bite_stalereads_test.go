//go:build chaos_bite_stalereads

package chaos_test

func biteCompiledIn(tags string) bool { return tags == "chaos_bite_stalereads" }
