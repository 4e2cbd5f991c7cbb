package configfile

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/clusteragent/agent/agent"
)

// Render writes cfg as an HCL config file: every key whose value differs
// from base's, and every key named in always whatever its value, in the
// order of Keys. Parsing the file on top of base gives cfg back, so a
// caller passes agent.DefaultConfig() for a file the agent reads; always
// spells out keys a reader of the file should see even at their default.
// An unknown name in always is an error, as is a field type the parser
// does not know.
func Render(cfg, base agent.Config, always ...string) ([]byte, error) {
	for _, name := range always {
		if Lookup(name) == nil {
			return nil, fmt.Errorf("configfile: unknown key %q", name)
		}
	}
	f := hclwrite.NewEmptyFile()
	root := f.Body()
	var (
		blockName string
		block     *hclwrite.Body
	)
	for _, k := range Keys {
		v, b := k.Field(&cfg), k.Field(&base)
		if equal(v, b) && !slices.Contains(always, k.Name) {
			continue
		}
		val, err := ctyValue(v)
		if err != nil {
			return nil, fmt.Errorf("configfile: %s: %w", k.Name, err)
		}
		outer, inner, inBlock := strings.Cut(k.Name, ".")
		if !inBlock {
			root.SetAttributeValue(outer, val)
			continue
		}
		if outer != blockName {
			root.AppendNewline()
			blockName, block = outer, root.AppendNewBlock(outer, nil).Body()
		}
		block.SetAttributeValue(inner, val)
	}
	return hclwrite.Format(f.Bytes()), nil
}

// equal compares two fields, an empty list or map counting as absent: the
// parser reads [] and {} as the nil default.
func equal(a, b any) bool {
	ra, rb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	if k := ra.Kind(); (k == reflect.Slice || k == reflect.Map) && ra.Len() == 0 && rb.Len() == 0 {
		return true
	}
	return reflect.DeepEqual(ra.Interface(), rb.Interface())
}

// ctyValue is the HCL value of the field ptr points at, of the type the
// parser expects for it: durations are strings such as "30s".
func ctyValue(ptr any) (cty.Value, error) {
	switch f := ptr.(type) {
	case *string:
		return cty.StringVal(*f), nil
	case *bool:
		return cty.BoolVal(*f), nil
	case *int:
		return cty.NumberIntVal(int64(*f)), nil
	case *uint64:
		return cty.NumberUIntVal(*f), nil
	case *time.Duration:
		return cty.StringVal(f.String()), nil
	case *[]string:
		if len(*f) == 0 {
			return cty.ListValEmpty(cty.String), nil
		}
		vals := make([]cty.Value, len(*f))
		for i, s := range *f {
			vals[i] = cty.StringVal(s)
		}
		return cty.TupleVal(vals), nil
	case *map[string]string:
		if len(*f) == 0 {
			return cty.MapValEmpty(cty.String), nil
		}
		vals := make(map[string]cty.Value, len(*f))
		for k, s := range *f {
			vals[k] = cty.StringVal(s)
		}
		return cty.MapVal(vals), nil
	}
	return cty.NilVal, fmt.Errorf("unsupported field type %T", ptr)
}
