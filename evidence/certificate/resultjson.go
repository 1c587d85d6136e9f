package certificate

import (
	"bytes"
	"encoding/json"
)

// MarshalJSON gives a Result as JSON: the verdict by name ("VALID",
// "TAMPERED", ...), then the reason and the details. Err stays out: its
// words are in the reason.
func (r Result) MarshalJSON() ([]byte, error) {
	// fields is Result without this method, so encoding it does not recurse.
	type fields Result
	return json.Marshal(struct {
		Verdict string `json:"verdict"`
		fields
	}{r.Verdict.String(), fields(r)})
}

// JSON is r as `evidencectl cert verify --json` prints it, indented by two
// spaces and ending in a newline. The court's web page gets these same
// bytes from the verifier compiled to WebAssembly, so a program reading
// either reads one format.
func (r Result) JSON() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	// A Result holds strings, numbers, times and booleans only: it always
	// encodes.
	if err := enc.Encode(r); err != nil {
		panic("certificate: a Result does not encode: " + err.Error())
	}
	return b.Bytes()
}
