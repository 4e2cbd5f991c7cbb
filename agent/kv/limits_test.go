package kv

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestValidateKey(t *testing.T) {
	l := DefaultLimits()
	tests := map[string]struct {
		key  string
		want string // substring of the error; "" means valid
	}{
		"simple":            {key: "a"},
		"path":              {key: "service/web/config"},
		"dots inside":       {key: "a/.b/c..d/..."},
		"unicode":           {key: "région/café/ключ"},
		"spaces":            {key: "a b/ c"},
		"max length":        {key: strings.Repeat("x", 512)},
		"empty":             {key: "", want: "key is empty"},
		"too long":          {key: strings.Repeat("x", 513), want: "is 513 bytes, the limit is 512"},
		"leading slash":     {key: "/a", want: `starts with "/"`},
		"only slash":        {key: "/", want: `starts with "/"`},
		"trailing slash":    {key: "a/", want: `ends with "/"`},
		"double slash":      {key: "a//b", want: `empty segment ("//") at byte 1`},
		"dot segment":       {key: "a/./b", want: `has a "." segment at byte 2`},
		"dotdot segment":    {key: "a/..", want: `has a ".." segment at byte 2`},
		"dot alone":         {key: ".", want: `has a "." segment at byte 0`},
		"newline":           {key: "a\nb", want: "control character U+000A at byte 1"},
		"nul":               {key: "a\x00", want: "control character U+0000 at byte 1"},
		"del":               {key: "a\x7f", want: "control character U+007F"},
		"c1 control":        {key: "a\u0085", want: "control character U+0085"},
		"invalid utf8":      {key: "a\xffb", want: "not valid UTF-8 (at byte 1)"},
		"surrogate half":    {key: "a\xed\xa0\x80", want: "not valid UTF-8 (at byte 1)"},
		"long key is short": {key: strings.Repeat("y", 600), want: `"... is 600 bytes, the limit is 512`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := ValidateKey(tc.key, l)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ValidateKey(%q) = %v, want nil", tc.key, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateKey(%q) = nil, want an error containing %q", tc.key, tc.want)
			}
			if !errors.Is(err, ErrInvalidKey) {
				t.Errorf("error %v does not wrap ErrInvalidKey", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Count(err.Error(), "bytes") > 1 || strings.HasPrefix(err.Error(), "kv:") {
				t.Errorf("error repeats itself or names the package: %q", err)
			}
			if len(err.Error()) > 200 {
				t.Errorf("error is %d bytes long: %q", len(err.Error()), err)
			}
		})
	}
}

func TestValidateValue(t *testing.T) {
	l := Limits{MaxKeyBytes: 8, MaxValueBytes: 4}
	for _, v := range [][]byte{nil, {}, []byte("abcd")} {
		if err := ValidateValue(v, l); err != nil {
			t.Errorf("ValidateValue(%q) = %v", v, err)
		}
	}
	err := ValidateValue([]byte("abcde"), l)
	if !errors.Is(err, ErrValueTooLarge) || !strings.Contains(err.Error(), "5 bytes, the limit is 4") {
		t.Errorf("ValidateValue(5 bytes) = %v", err)
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := DefaultLimits().Validate(); err != nil {
		t.Fatalf("DefaultLimits().Validate() = %v", err)
	}
	tests := map[string]struct {
		l    Limits
		want string
	}{
		"zero":            {l: Limits{}, want: "MaxKeyBytes is 0"},
		"key negative":    {l: Limits{MaxKeyBytes: -1, MaxValueBytes: 1}, want: "MaxKeyBytes is -1"},
		"key too large":   {l: Limits{MaxKeyBytes: MaxKeyBytesCeiling + 1, MaxValueBytes: 1}, want: "MaxKeyBytes"},
		"value zero":      {l: Limits{MaxKeyBytes: 1}, want: "MaxValueBytes is 0"},
		"value too large": {l: Limits{MaxKeyBytes: 1, MaxValueBytes: MaxValueBytesCeiling + 1}, want: "MaxValueBytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.l.Validate()
			if !errors.Is(err, ErrInvalidLimits) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want ErrInvalidLimits naming %q", err, tc.want)
			}
		})
	}
}

func TestNewStorePanicsOnInvalidLimits(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "MaxKeyBytes") {
			t.Fatalf("recover() = %v, want a panic naming MaxKeyBytes", r)
		}
	}()
	NewStore(Limits{})
}

// keyOracle restates the key rules independently of validateKey.
func keyOracle(key string, l Limits) bool {
	if len(key) == 0 || len(key) > l.MaxKeyBytes || !utf8.ValidString(key) {
		return false
	}
	if strings.IndexFunc(key, unicode.IsControl) >= 0 {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"a", "a/b", "/a", "a/", "a//b", ".", "..", "a/./b", "a\x00", "\xff", "é/ü", strings.Repeat("k", 513)} {
		f.Add(s)
	}
	l := Limits{MaxKeyBytes: 64, MaxValueBytes: 1}
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidateKey(key, l)
		if want := keyOracle(key, l); want != (err == nil) {
			t.Fatalf("ValidateKey(%q) = %v, oracle says valid=%v", key, err, want)
		}
		if err != nil && (!errors.Is(err, ErrInvalidKey) || len(err.Error()) > 300) {
			t.Fatalf("ValidateKey(%q): bad error %q", key, err)
		}
	})
}
