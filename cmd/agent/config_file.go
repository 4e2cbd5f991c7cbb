package main

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/clusteragent/agent/agent"
	"github.com/clusteragent/agent/internal/configfile"
)

// fileError is a config file problem at a line, naming the key when there is one.
type fileError struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *fileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// fileSource records where each key was set, so a later validation error
// can point at the line.
type fileSource struct {
	file  string
	lines map[string]int // key -> line
}

// has reports whether the file set key; false on a nil source.
func (s *fileSource) has(key string) bool {
	if s == nil {
		return false
	}
	_, ok := s.lines[key]
	return ok
}

// loadConfigFile reads path and applies the keys it sets on top of cfg.
func loadConfigFile(path string, cfg *agent.Config) (*fileSource, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	return parseConfig(src, path, cfg)
}

// parseConfig applies the HCL in src to cfg. Only keys present in src
// change cfg; the first problem found, in file order, is returned.
func parseConfig(src []byte, filename string, cfg *agent.Config) (*fileSource, error) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diagError(filename, "", diags)
	}
	body, ok := file.Body.(*hclsyntax.Body)
	if !ok {
		return nil, &fileError{File: filename, Msg: "not an HCL native syntax file"}
	}
	p := &fileParser{file: filename, cfg: cfg, src: &fileSource{file: filename, lines: map[string]int{}}}
	if err := p.body(body, ""); err != nil {
		return nil, err
	}
	return p.src, nil
}

type fileParser struct {
	file string
	cfg  *agent.Config
	src  *fileSource
}

// item is an attribute or a block, sorted by position so errors come in file order.
type item struct {
	pos   hcl.Pos
	attr  *hclsyntax.Attribute
	block *hclsyntax.Block
}

func (p *fileParser) body(body *hclsyntax.Body, prefix string) error {
	items := make([]item, 0, len(body.Attributes)+len(body.Blocks))
	for _, a := range body.Attributes {
		items = append(items, item{pos: a.NameRange.Start, attr: a})
	}
	for _, b := range body.Blocks {
		items = append(items, item{pos: b.TypeRange.Start, block: b})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].pos.Byte < items[j].pos.Byte })
	for _, it := range items {
		var err error
		if it.attr != nil {
			err = p.attribute(it.attr, prefix)
		} else {
			err = p.block(it.block, prefix)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *fileParser) errAt(line int, key, format string, args ...any) error {
	return &fileError{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (p *fileParser) block(b *hclsyntax.Block, prefix string) error {
	name := prefix + b.Type
	line := b.TypeRange.Start.Line
	if prefix != "" || !isBlockName(b.Type) {
		if k := lookupKey(name); k != nil {
			return p.errAt(line, name, "is a single value, not a block; write %s = ...", b.Type)
		}
		return p.errAt(line, name, "unknown block%s", suggestion(name))
	}
	if len(b.Labels) > 0 {
		return p.errAt(line, name, "block takes no labels; write %s { ... }", b.Type)
	}
	if prev, seen := p.src.lines[name]; seen {
		return p.errAt(line, name, "block given twice (first on line %d)", prev)
	}
	p.src.lines[name] = line
	return p.body(b.Body, name+".")
}

func (p *fileParser) attribute(a *hclsyntax.Attribute, prefix string) error {
	name := prefix + a.Name
	line := a.NameRange.Start.Line
	k := lookupKey(name)
	if k == nil {
		if prefix == "" && isBlockName(a.Name) {
			return p.errAt(line, name, "is a block; write %s { ... } without '='", a.Name)
		}
		return p.errAt(line, name, "unknown key%s", suggestion(name))
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return diagError(p.file, name, diags)
	}
	if err := assign(k.Field(p.cfg), v); err != nil {
		return p.errAt(line, name, "%v", err)
	}
	p.src.lines[name] = line
	return nil
}

// assign converts v to the type of the field ptr points at. Types are
// strict: a quoted number is not a number, a bare number not a duration.
func assign(ptr any, v cty.Value) error {
	if v.IsNull() {
		return errors.New("must not be null; leave the key out to keep the default")
	}
	if !v.IsWhollyKnown() {
		return errors.New("must be a literal value")
	}
	switch f := ptr.(type) {
	case *string:
		s, err := asString(v, "a string")
		if err == nil {
			*f = s
		}
		return err
	case *bool:
		if v.Type() != cty.Bool {
			return fmt.Errorf("expected a bool (true or false), got %s", typeName(v))
		}
		*f = v.True()
		return nil
	case *int:
		n, err := asInt(v, math.MinInt, math.MaxInt)
		if err == nil {
			*f = int(n)
		}
		return err
	case *uint64:
		if v.Type() != cty.Number {
			return fmt.Errorf("expected a number, got %s", typeName(v))
		}
		u, acc := v.AsBigFloat().Uint64()
		if acc != big.Exact || v.AsBigFloat().Sign() < 0 {
			return fmt.Errorf("expected a whole number from 0 to %d, got %s", uint64(math.MaxUint64), v.AsBigFloat().Text('g', -1))
		}
		*f = u
		return nil
	case *time.Duration:
		return assignDuration(f, v)
	case *[]string:
		return assignList(f, v)
	case *map[string]string:
		return assignMap(f, v)
	}
	return fmt.Errorf("internal error: unsupported field type %T", ptr)
}

func asString(v cty.Value, what string) (string, error) {
	if v.IsNull() || v.Type() != cty.String {
		return "", fmt.Errorf("expected %s, got %s", what, typeName(v))
	}
	return v.AsString(), nil
}

func asInt(v cty.Value, lo, hi int64) (int64, error) {
	if v.Type() != cty.Number {
		return 0, fmt.Errorf("expected a number, got %s", typeName(v))
	}
	bf := v.AsBigFloat()
	n, acc := bf.Int64()
	if acc != big.Exact || n < lo || n > hi {
		return 0, fmt.Errorf("expected a whole number, got %s", bf.Text('g', -1))
	}
	return n, nil
}

func assignDuration(f *time.Duration, v cty.Value) error {
	s, err := asString(v, `a duration string such as "30s" or "200ms"`)
	if err != nil {
		return err
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (use a number with a unit: \"30s\", \"200ms\", \"1m\")", s)
	}
	*f = d
	return nil
}

func assignList(f *[]string, v cty.Value) error {
	t := v.Type()
	if !t.IsTupleType() && !t.IsListType() && !t.IsSetType() {
		return fmt.Errorf("expected a list of strings such as [\"10.0.0.1\"], got %s", typeName(v))
	}
	var out []string // an empty list leaves nil, the default
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.IsNull() || e.Type() != cty.String {
			return fmt.Errorf("expected a list of strings, found %s in it", typeName(e))
		}
		out = append(out, e.AsString())
	}
	*f = out
	return nil
}

func assignMap(f *map[string]string, v cty.Value) error {
	t := v.Type()
	if !t.IsObjectType() && !t.IsMapType() {
		return fmt.Errorf(`expected a map such as { node1 = "10.0.0.1:7000" }, got %s`, typeName(v))
	}
	var out map[string]string // an empty map leaves nil, the default
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		if e.IsNull() || e.Type() != cty.String {
			return fmt.Errorf("value of %q: expected a string, got %s", k.AsString(), typeName(e))
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k.AsString()] = e.AsString()
	}
	*f = out
	return nil
}

func typeName(v cty.Value) string {
	if v.IsNull() {
		return "null"
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return fmt.Sprintf("string %q", v.AsString())
	case t == cty.Number:
		return "number " + v.AsBigFloat().Text('g', -1)
	case t == cty.Bool:
		return fmt.Sprintf("bool %t", v.True())
	case t.IsTupleType() || t.IsListType() || t.IsSetType():
		return "a list"
	case t.IsObjectType() || t.IsMapType():
		return "a map"
	}
	return t.FriendlyName()
}

// diagError turns the first HCL diagnostic into a fileError.
func diagError(filename, key string, diags hcl.Diagnostics) error {
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		line := 0
		if d.Subject != nil {
			line = d.Subject.Start.Line
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		if key == "" {
			msg = "syntax error: " + msg
		}
		return &fileError{File: filename, Line: line, Key: key, Msg: msg}
	}
	return &fileError{File: filename, Msg: diags.Error()}
}

// lookupKey and isBlockName read the schema in package configfile, which
// the renderer of test and bench configs shares.
func lookupKey(name string) *configfile.Key { return configfile.Lookup(name) }

func isBlockName(name string) bool { return configfile.IsBlock(name) }

// suggestion names the closest known key when name looks like a typo of it.
func suggestion(name string) string {
	best, bestDist := "", 3
	for _, k := range configfile.Keys {
		if d := editDistance(name, k.Name); d < bestDist {
			best, bestDist = k.Name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// conflictKeys are the keys a validation message names as the other half of
// a conflict.
var conflictKeys = []string{"bootstrap_expect", "bootstrap_preferred", "no_bootstrap", "peers", "server"}

// locateOtherKeys adds "(FILE:LINE)" after the first mention in msg of each
// conflict key other than self that src set, so an error about a flag also
// says where in the file its other half is.
func locateOtherKeys(msg, self string, src *fileSource) string {
	if src == nil {
		return msg
	}
	for _, k := range conflictKeys {
		line, ok := src.lines[k]
		if !ok || k == self {
			continue
		}
		if i := wordIndex(msg, k); i >= 0 {
			msg = msg[:i+len(k)] + fmt.Sprintf(" (%s:%d)", src.file, line) + msg[i+len(k):]
		}
	}
	return msg
}

// wordIndex is the index of the first w in s not inside a longer key name,
// or -1.
func wordIndex(s, w string) int {
	keyByte := func(c byte) bool { return c == '_' || c == '-' || ('a' <= c && c <= 'z') }
	for off := 0; off < len(s); {
		i := strings.Index(s[off:], w)
		if i < 0 {
			return -1
		}
		i += off
		end := i + len(w)
		if (i == 0 || !keyByte(s[i-1])) && (end == len(s) || !keyByte(s[end])) {
			return i
		}
		off = i + 1
	}
	return -1
}
