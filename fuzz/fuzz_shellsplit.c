/* fuzz_shellsplit.c: a shell command line through the splitter that permission rules
 * match against (core/shellsplit.c). Checks what the header promises: every command
 * has text, a failure says why and where (within the input), and a success has no
 * reason. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "shellsplit.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct shellsplit s;
	int rc = shellsplit_parse((const char *)data, size, &s);
	if (rc == 0 && s.why != NULL)
		abort();
	if (rc != 0 && (s.why == NULL || s.where > size))
		abort();
	if (s.n > SHELLSPLIT_MAX_CMDS)
		abort();
	for (size_t i = 0; i < s.n; i++)
		if (s.cmds[i].text == NULL)
			abort();
		else
			(void)strlen(s.cmds[i].text);
	shellsplit_free(&s);
	return 0;
}
