package wxcrypto

import (
	"bytes"
	"unicode/utf8"
)

// ScanFlat reads XML of the shape WeCom and the Official Account send: one
// root element holding only leaf elements, each one CDATA section or plain
// text, with whitespace between them. root names the root element ("" for
// any). It calls field for each leaf, in order; field returns false to give
// up (for example on a repeated name).
//
// ScanFlat reports false for anything outside that shape (attributes,
// nesting, entities, comments, declarations, carriage returns, characters
// XML forbids, anything after the root); the caller then decodes with
// encoding/xml, which is several times slower on these small documents and
// was a fifth of a callback's CPU. On what it accepts, the two read the same
// values (FuzzScanFlat holds it to that).
func ScanFlat(body []byte, root string, field func(name string, value []byte) bool) bool {
	if !xmlChars(body) {
		return false
	}
	p := skipSpace(body)
	name, p, ok := startTag(p)
	if !ok || (root != "" && name != root) {
		return false
	}
	for {
		p = skipSpace(p)
		if rest, ok := endTag(p, name); ok {
			return len(skipSpace(rest)) == 0
		}
		var leaf string
		var value []byte
		if leaf, value, p, ok = leafElement(p); !ok || !field(leaf, value) {
			return false
		}
	}
}

// leafElement reads <name>value</name> with value one CDATA section or text.
func leafElement(p []byte) (name string, value, rest []byte, ok bool) {
	if name, p, ok = startTag(p); !ok {
		return "", nil, nil, false
	}
	const cdataOpen, cdataClose = "<![CDATA[", "]]>"
	if bytes.HasPrefix(p, []byte(cdataOpen)) {
		p = p[len(cdataOpen):]
		end := bytes.Index(p, []byte(cdataClose))
		if end < 0 {
			return "", nil, nil, false
		}
		value, p = p[:end], p[end+len(cdataClose):]
	} else {
		end := bytes.IndexByte(p, '<')
		if end < 0 {
			return "", nil, nil, false
		}
		value, p = p[:end], p[end:]
		if bytes.IndexByte(value, '&') >= 0 || bytes.Contains(value, []byte("]]>")) {
			return "", nil, nil, false
		}
	}
	if rest, ok = endTag(p, name); !ok {
		return "", nil, nil, false
	}
	return name, value, rest, true
}

// startTag reads <name> (no attributes, no namespace prefix).
func startTag(p []byte) (string, []byte, bool) {
	if len(p) < 3 || p[0] != '<' {
		return "", nil, false
	}
	n := nameLen(p[1:])
	if n == 0 || len(p) < n+2 || p[n+1] != '>' {
		return "", nil, false
	}
	return string(p[1 : n+1]), p[n+2:], true
}

// endTag reads </name>.
func endTag(p []byte, name string) ([]byte, bool) {
	if len(p) < len(name)+3 || p[0] != '<' || p[1] != '/' || string(p[2:2+len(name)]) != name || p[2+len(name)] != '>' {
		return nil, false
	}
	return p[len(name)+3:], true
}

// nameLen is the length of the ASCII XML name at the start of p.
func nameLen(p []byte) int {
	for i, c := range p {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '-' || c == '.')) {
			return i
		}
	}
	return len(p)
}

func skipSpace(p []byte) []byte {
	for len(p) > 0 && (p[0] == ' ' || p[0] == '\t' || p[0] == '\n') {
		p = p[1:]
	}
	return p
}

// xmlChars reports whether body is UTF-8 of characters XML allows, without
// carriage returns (encoding/xml rewrites them).
func xmlChars(body []byte) bool {
	for i := 0; i < len(body); {
		c := body[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && size == 1 || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += size
	}
	return true
}
