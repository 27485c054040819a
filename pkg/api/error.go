package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Code classifies an error so that the host can pick an HTTP status and the
// client can pick an exit code and a helpful message without parsing text.
type Code string

// The error codes of the management API.
const (
	CodeInvalid      Code = "invalid"
	CodeUnauthorized Code = "unauthorized"
	// CodeForbidden: the credential is valid but may not do this (a
	// project token used on another project or on a host-wide route).
	CodeForbidden Code = "forbidden"
	// CodeRateLimited: too many failed authentications from the client's
	// address, or too many deploys of one project; Retry-After says when
	// to try again.
	CodeRateLimited Code = "rate_limited"
	CodeNotFound    Code = "not_found"
	CodeConflict    Code = "conflict"
	CodeTooLarge    Code = "too_large"
	CodeMethod      Code = "method_not_allowed"
	CodeUnavailable Code = "unavailable"
	CodeInternal    Code = "internal"
)

// Error is the application error carried across the API boundary.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, or CodeInternal when err carries none.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Status maps a code to its HTTP status.
func (c Code) Status() int {
	switch c {
	case CodeInvalid:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeNotFound:
		return http.StatusNotFound
	case CodeConflict:
		return http.StatusConflict
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeMethod:
		return http.StatusMethodNotAllowed
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// CodeForStatus maps an HTTP status back to a code, for responses whose body
// carries no code of its own.
func CodeForStatus(status int) Code {
	switch status {
	case http.StatusBadRequest:
		return CodeInvalid
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusConflict:
		return CodeConflict
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case http.StatusMethodNotAllowed:
		return CodeMethod
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	default:
		return CodeInternal
	}
}

// ErrorDetail is one entry of ErrorResponse.Errors.
type ErrorDetail struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// ErrorResponse is the JSON body of every failed API call.
type ErrorResponse struct {
	Success bool          `json:"success"`
	Error   string        `json:"error"`
	Errors  []ErrorDetail `json:"errors"`
}

// NewErrorResponse builds the body for err.
func NewErrorResponse(err *Error) ErrorResponse {
	return ErrorResponse{
		Error:  err.Message,
		Errors: []ErrorDetail{{Code: err.Code, Message: err.Message}},
	}
}
