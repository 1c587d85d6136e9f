// Package crypto groups the project's cryptography: SM2 signatures (package
// sm2), the SM3 Merkle log (package merkle), signed tree heads (package
// checkpoint) and RFC 3161 time-stamp tokens (package tsa). Everything
// beneath crypto/ is pure computation: no I/O, no clocks, no imports of
// other packages of this module; the one exception is tsa.Client, which
// asks a time-stamping authority over HTTP.
package crypto
