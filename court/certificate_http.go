package court

import (
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/courtledger/courtledger/api/gen/courtledger/v1"
	"github.com/courtledger/courtledger/court/access"
	"github.com/courtledger/courtledger/crypto/sm3"
	"github.com/courtledger/courtledger/evidence/certificate"
)

// routes adds the two REST routes grpc-gateway cannot serve: the PDF as
// application/pdf, and a file of any size streamed through SM3 (outside
// the request size limit of /v1/, since the body is hashed, never held).
// Both run behind the node's guard as the gRPC methods they stand for.
func (s *certificateServer) routes(mux *http.ServeMux, g *access.Guard) {
	mux.HandleFunc("GET /v1/evidence/{evidence_id}/certificate.pdf",
		g.HTTP("/courtledger.v1.CertificateService/GetCertificate", s.servePDF))
	mux.HandleFunc("GET /v1/evidence/{evidence_id}/certificate.json",
		g.HTTP("/courtledger.v1.CertificateService/GetCertificate", s.serveJSON))
	mux.HandleFunc("POST /v1/verdicts:file",
		g.HTTP("/courtledger.v1.CertificateService/VerifyEvidence", s.serveFileVerdict))
}

// writeError answers an HTTP route in the gateway's terms: the status
// mapped from the gRPC code, and the status as JSON.
func writeError(w http.ResponseWriter, err error) {
	st, _ := status.FromError(toStatus(err))
	body, _ := protojson.Marshal(st.Proto())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(runtime.HTTPStatusFromCode(st.Code()))
	w.Write(body)
}

// certificate answers a plain route's GetCertificate under the caller's
// scope, as the gateway's route would.
func (s *certificateServer) certificate(r *http.Request, pdf bool) (*pb.GetCertificateResponse, error) {
	req := &pb.GetCertificateRequest{EvidenceId: r.PathValue("evidence_id"), IncludePdf: pdf, Fingerprint: r.URL.Query().Get("fingerprint")}
	caller, _ := access.CallerOf(r.Context())
	if err := access.ScopeRequest(caller, req); err != nil {
		return nil, err
	}
	resp, err := s.GetCertificate(r.Context(), req)
	if err != nil {
		return nil, err
	}
	if _, err := access.ScopeResponse(caller, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *certificateServer) servePDF(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.certificate(r, true)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="certificate-%s.pdf"`, r.PathValue("evidence_id")))
	w.Write(resp.Pdf)
	return nil
}

// serveJSON answers the certificate's own JSON (package certificate), the
// file `evidencectl cert get --out-json` writes and `cert verify` reads,
// rather than the API message's protojson.
func (s *certificateServer) serveJSON(w http.ResponseWriter, r *http.Request) error {
	resp, err := s.certificate(r, false)
	if err != nil {
		return err
	}
	raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(resp.Certificate)
	if err != nil {
		return err
	}
	c, err := certificate.Unmarshal(raw)
	if err != nil {
		return fmt.Errorf("court: the certificate issued does not decode: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="certificate-%s.json"`, r.PathValue("evidence_id")))
	w.Write(c.Marshal())
	return nil
}

func (s *certificateServer) serveFileVerdict(w http.ResponseWriter, r *http.Request) error {
	fp, _, err := sm3.SumReader(r.Body, 0, nil)
	if err != nil {
		return invalid("body", "READ_FAILED", "reading the file: %v", err)
	}
	resp, err := s.VerifyEvidence(r.Context(), &pb.VerifyEvidenceRequest{
		Fingerprint: hex.EncodeToString(fp[:]), EvidenceId: r.URL.Query().Get("evidence_id")})
	if err != nil {
		return err
	}
	body, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(resp)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
	return nil
}
