/* hello.c: the smallest useful cfhost server code, in C for WASI preview 1.
 * The request is in the environment and on stdin; the CGI response goes to
 * stdout. It answers like examples/go-hello does for "/".
 *
 *   clang --target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-all -o hello.wasm hello.c
 */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
	const char *method = getenv("REQUEST_METHOD");
	if (method == NULL) {
		fputs("not run as CGI\n", stderr);
		return 1;
	}
	fputs("Status: 200 OK\r\n"
	      "Content-Type: text/plain; charset=utf-8\r\n"
	      "\r\n"
	      "Hello from WebAssembly!\n", stdout);
	return 0;
}
