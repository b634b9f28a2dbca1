// Package auth holds the credential logic of the registry: password
// hashing, random tokens, parsing of Authorization headers, the HMAC
// scheme the nessemble client signs its requests with, and the TOTP codes
// and QR codes used to reset a forgotten password.
//
// It knows nothing of HTTP handlers or storage. Errors meant for users
// carry messages that can be shown as they are: they never contain a
// percent sign (the client passes them to printf) and never echo input.
package auth
