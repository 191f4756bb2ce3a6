/* wordfreq: the most frequent words of a text, an ordinary C program for the pipsim SDK
 * (docs/sdk.md). It uses the C library only: <string.h>, <stdlib.h> (malloc, realloc,
 * qsort, bsearch, strtol), <ctype.h> and printf. Its exit code is the number of distinct
 * words counted; in a child it goes to the parent (`pipsim run --child`). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char text[] =
    "A partition is a box for a program. The kernel keeps the box closed: a program in "
    "a partition sees its own pages and the pages its parent gave it, and nothing else. "
    "The parent of a partition decides what the child may touch, and when the child "
    "runs. When the child is done, its parent hears about it, and the parent decides "
    "what happens next. top=8";

/* sorted: bsearch finds them */
static const char *const stop_words[] = {"a", "and", "for", "in", "is", "it", "of", "the", "what"};

struct word {
    char *text;
    int count;
};

static int compare_text(const void *key, const void *item)
{
    return strcmp(key, *(const char *const *)item);
}

static int by_count_then_text(const void *a, const void *b)
{
    const struct word *x = a, *y = b;
    if (x->count != y->count)
        return y->count - x->count;
    return strcmp(x->text, y->text);
}

int main(void)
{
    struct word *words = NULL;
    size_t nwords = 0, capacity = 0;
    long top = 5;
    char *copy = strdup(text);
    if (copy == NULL)
        return 255;
    for (char *token = strtok(copy, " .,:"); token; token = strtok(NULL, " .,:")) {
        if (strncmp(token, "top=", 4) == 0) {
            top = strtol(token + 4, NULL, 10);
            continue;
        }
        for (char *c = token; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        if (bsearch(token, stop_words, sizeof stop_words / sizeof *stop_words,
                    sizeof *stop_words, compare_text))
            continue;
        size_t i = 0;
        while (i < nwords && strcmp(words[i].text, token) != 0)
            i++;
        if (i == nwords) {
            if (nwords == capacity) {
                capacity = capacity ? 2 * capacity : 8;
                words = realloc(words, capacity * sizeof *words);
                if (words == NULL)
                    return 255;
            }
            words[nwords++] = (struct word){token, 0};
        }
        words[i].count++;
    }
    qsort(words, nwords, sizeof *words, by_count_then_text);
    printf("wordfreq: %u distinct words, the %ld most frequent:\n", (unsigned)nwords, top);
    for (size_t i = 0; i < nwords && (long)i < top; i++)
        printf("%-10s %d\n", words[i].text, words[i].count);
    free(words);
    free(copy);
    return (int)nwords;
}
