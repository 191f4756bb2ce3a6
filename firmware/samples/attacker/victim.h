/* The victim's secret: its first data page (VA 0x2000 in the victim) holds this word
 * 1024 times; the root checks it at the end. */
#ifndef VICTIM_H
#define VICTIM_H

#define VICTIM_PATTERN 0x5EC7E75Au

#endif
