package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/courtledger/courtledger/api/client"
)

// Output convention (docs/api.md, "evidencectl"): every command prints
// text for people by default and, with --json, one JSON document on
// stdout with the same meaning everywhere: API messages in protojson
// (field names as in the .proto, times in RFC 3339), evidencectl's own
// results as documented objects. Warnings and progress go to stderr.

// Exit codes, the same for every command.
const (
	exitOK          = 0
	exitError       = 1 // an operation failed (no connection, refused, unreadable file)
	exitUsage       = 2 // the command line was wrong; nothing was done
	exitNotRecorded = 3 // verify: no such evidence
	// 4 TAMPERED, 5 UNTRUSTED, 6 INVALID PROOF, 7 MALFORMED: verdicts (verdict.go)
	exitAlarm      = 8 // alarms: an equivocation alarm is active
	exitUnverified = 9 // submit: filed, but a receipt did not verify against the trust file
)

// errUnverified makes submit exit with 9: the court recorded the evidence
// (the IDs were printed) but its receipt did not verify here.
var errUnverified = errors.New("filed, but the receipt did not verify against your trust file")

// exitCode is the exit status of a command's error, and whether main must
// still print the error (a verdict or a NOT RECORDED was printed already).
func exitCode(err error) (int, bool) {
	var verdict *verdictError
	switch {
	case err == nil:
		return exitOK, false
	case errors.As(err, &verdict):
		return verdict.exitCode(), false
	case isUsage(err):
		return exitUsage, true
	case errors.Is(err, errNotRecorded):
		return exitNotRecorded, false
	case errors.Is(err, errAlarmActive):
		return exitAlarm, true
	case errors.Is(err, errUnverified):
		return exitUnverified, true
	}
	return exitError, true
}

// isUsage reports a wrong command line: ours (errUsage) or cobra's own
// (unknown command or flag, a required flag missing, wrong arguments).
func isUsage(err error) bool {
	if errors.Is(err, errUsage) {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "required flag(s)",
		"accepts ", "requires at least", "invalid argument", "flag needs an argument", "if any flags in the group"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// printJSON prints v as indented JSON: an API message in protojson (times
// in RFC 3339, not {"seconds","nanos"}), anything else with encoding/json.
func printJSON(w io.Writer, v any) error {
	if m, ok := v.(proto.Message); ok {
		raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return err
		}
		buf.WriteByte('\n')
		_, err = w.Write(buf.Bytes())
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// protoValue is an API message as JSON values (maps, lists, strings), to
// print as text or embed in a JSON result.
func protoValue(m proto.Message) any {
	raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil
	}
	var v any
	json.Unmarshal(raw, &v)
	return v
}

// printText prints an API message for people: one "field: value" line per
// field, nested messages indented, lists item by item.
func printText(w io.Writer, m proto.Message) {
	v := protoValue(m)
	if obj, ok := v.(map[string]any); ok && len(obj) == 0 {
		fmt.Fprintln(w, "(empty answer: done)")
		return
	}
	writeTree(w, "", v)
}

func writeTree(w io.Writer, indent string, v any) {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			switch c := t[k].(type) {
			case map[string]any, []any:
				fmt.Fprintf(w, "%s%s:\n", indent, k)
				writeTree(w, indent+"  ", c)
			default:
				fmt.Fprintf(w, "%s%s: %s\n", indent, k, scalar(c))
			}
		}
	case []any:
		for i, item := range t {
			fmt.Fprintf(w, "%s- [%d]\n", indent, i)
			writeTree(w, indent+"  ", item)
		}
	default:
		fmt.Fprintf(w, "%s%s\n", indent, scalar(t))
	}
}

func scalar(v any) string {
	if s, ok := v.(string); ok {
		if strings.Contains(s, "\n") {
			return "|\n    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
		}
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// show prints an API message as --json asks: protojson, or text.
func show(cmd *cobra.Command, m proto.Message) error {
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), m)
	}
	printText(cmd.OutOrStdout(), m)
	return nil
}

// describe turns an error of a call into words a person can act on. Only
// what a court answered is said to be the court's ("court says"); a call
// that never reached a court says so and names the likely mistake.
func describe(err error) error {
	if err == nil {
		return nil
	}
	raw := err.Error()
	msg := plain(raw)
	switch {
	case strings.Contains(raw, "missing selected ALPN property"), strings.Contains(raw, "http2: frame too large"),
		strings.Contains(raw, "malformed HTTP"):
		return fmt.Errorf("this looks like the court's REST/HTTPS port (http_addr): evidencectl speaks gRPC, use the node's gRPC port (grpc_addr in its config; `courtd demo` lists both) in --server (%s)", shorten(msg))
	case strings.Contains(raw, "first record does not look like a TLS handshake"):
		return fmt.Errorf("the node speaks plain text (it runs with --insecure): add --insecure or EVIDENCECTL_INSECURE=1 (%s)", shorten(msg))
	case strings.Contains(raw, "certificate signed by unknown authority"), strings.Contains(raw, "x509:"):
		return fmt.Errorf("the node's TLS certificate is not trusted: give the CA that issued it with --ca or EVIDENCECTL_CA (%s)", shorten(msg))
	case clientSide(raw):
		return fmt.Errorf("could not reach the court: no node of --server answered (check --server and that the nodes run): %s", shorten(msg))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no answer within --timeout (raise it, or check --server): %s", msg)
	}
	if st, ok := status.FromError(err); ok {
		return fmt.Errorf("court says %s: %s", st.Code(), plain(st.Message()))
	}
	return errors.New(msg)
}

// clientSide reports an error made on this side: no connection, or this
// program's client giving up, not an answer of a court.
func clientSide(raw string) bool {
	for _, s := range []string{"client: no node is ready", "connection error", "transport:", "connection refused", "no such host",
		"produced zero addresses", "authentication handshake failed", "error reading server preface"} {
		if strings.Contains(raw, s) {
			return true
		}
	}
	return false
}

// shorten keeps the heart of a transport error: gRPC's own advice about
// versions and links is no help to the person at the command line.
func shorten(msg string) string {
	if i := strings.Index(msg, ". If you upgraded"); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// grpcWrapping is how gRPC prints a status inside a message.
var grpcWrapping = regexp.MustCompile(`rpc error: code = \w+ desc = `)

// plain drops the names of internal packages (consensus:, court:) that a
// server's message or a wrapped error may carry: users act on the rest.
func plain(msg string) string {
	msg = grpcWrapping.ReplaceAllString(msg, "")
	for _, p := range []string{"consensus: ", "court: ", "client: "} {
		for strings.HasPrefix(msg, p) {
			msg = strings.TrimPrefix(msg, p)
		}
		msg = strings.ReplaceAll(msg, ": "+p, ": ")
	}
	return msg
}

// receiptError says what to do about a receipt that did not verify.
func receiptError(err error) error {
	if errors.Is(err, client.ErrUntrustedCourt) {
		return fmt.Errorf("%w (the trust file has no key of that court: add its line, as `courtd keygen` prints after \"trust line:\")", err)
	}
	return err
}
