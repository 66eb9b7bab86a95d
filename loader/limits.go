package loader

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// maxBinaryExp bounds the exponent of every number in a config, about
// 1e±420: well past float64, which is what scripts receive anyway. cty
// spells a number out digit by digit whenever it becomes a string, so
// 1e99999999 in a config would take minutes and gigabytes to load.
const maxBinaryExp = 1400

func numberInRange(f *big.Float) bool {
	if f.IsInf() || f.Sign() == 0 {
		return !f.IsInf()
	}
	e := f.MantExp(nil)
	return e <= maxBinaryExp && e >= -maxBinaryExp
}

func numberRangeError(text string, rng hcl.Range) *hcl.Diagnostic {
	if len(text) > 40 {
		text = text[:37] + "..."
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Number out of range",
		Detail:  fmt.Sprintf("%s is too large or too small: numbers in a config must lie between 1e-400 and 1e400 in magnitude.", text),
		Subject: rng.Ptr()}
}

// checkNumbers finds number literals out of range before anything
// evaluates them, in native syntax and in the templates of JSON strings.
func checkNumbers(src []byte, path string, isJSON bool) hcl.Diagnostics {
	if isJSON {
		return checkJSONNumbers(src, path)
	}
	return checkTokens(src, path, hcl.InitialPos, hclsyntax.LexConfig)
}

type lexer func([]byte, string, hcl.Pos) (hclsyntax.Tokens, hcl.Diagnostics)

func checkTokens(src []byte, path string, start hcl.Pos, lex lexer) hcl.Diagnostics {
	var diags hcl.Diagnostics
	toks, _ := lex(src, path, start)
	for _, tok := range toks {
		if tok.Type != hclsyntax.TokenNumberLit {
			continue
		}
		f, _, err := big.ParseFloat(string(tok.Bytes), 10, 512, big.ToNearestEven)
		if err != nil || !numberInRange(f) {
			diags = append(diags, numberRangeError(string(tok.Bytes), tok.Range))
		}
	}
	return diags
}

// checkJSONNumbers walks a JSON document that HCL has already parsed, so
// it is well-formed; any decoding error just ends the walk.
func checkJSONNumbers(src []byte, path string) hcl.Diagnostics {
	var diags hcl.Diagnostics
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	for {
		before := int(dec.InputOffset())
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) || err != nil {
			return diags
		}
		start := before
		for start < len(src) && bytes.IndexByte([]byte(" \t\r\n:,"), src[start]) >= 0 {
			start++
		}
		pos := posAt(src, start)
		switch v := tok.(type) {
		case json.Number:
			f, _, err := big.ParseFloat(string(v), 10, 512, big.ToNearestEven)
			if err != nil || !numberInRange(f) {
				end := posAt(src, start+len(v))
				diags = append(diags, numberRangeError(string(v), hcl.Range{Filename: path, Start: pos, End: end}))
			}
		case string:
			// The template's own positions are relative to the decoded
			// string; the string's start is close enough to point at.
			for _, d := range checkTokens([]byte(v), path, pos, hclsyntax.LexTemplate) {
				d.Subject = &hcl.Range{Filename: path, Start: pos, End: posAt(src, int(dec.InputOffset()))}
				diags = append(diags, d)
			}
		}
	}
}

// posAt is the HCL position of a byte offset, columns counted in bytes
// (convert turns columns into bytes anyway).
func posAt(src []byte, off int) hcl.Pos {
	off = min(off, len(src))
	line := bytes.Count(src[:off], []byte("\n")) + 1
	col := off - (bytes.LastIndexByte(src[:off], '\n') + 1) + 1
	return hcl.Pos{Line: line, Column: col, Byte: off}
}

// toNumberFunc is tonumber with the same range check as literals, since a
// string such as "1e99999999" is as costly once it is a number.
var toNumberFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowNull: true}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v, err := stdlib.MakeToFunc(cty.Number).Call(args)
		if err != nil {
			return cty.NilVal, err
		}
		if v.IsKnown() && !v.IsNull() && !numberInRange(v.AsBigFloat()) {
			return cty.NilVal, errors.New("the number is too large or too small: numbers in a config must lie between 1e-400 and 1e400 in magnitude")
		}
		return v, nil
	},
})
