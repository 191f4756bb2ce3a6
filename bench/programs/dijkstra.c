/* Dijkstra's single-source shortest paths (E. W. Dijkstra, Numer. Math. 1, 1959), the
 * O(V^2) array form, on a generated directed graph: 512 vertices, 8 pseudo-random
 * out-edges each (weights 1..100) plus a ring of weight 1000 so every vertex is
 * reachable.  Checked by the shortest-path certificate: d[source] = 0, no edge can
 * shorten a distance (d[v] <= d[u] + w), and every other vertex has an incoming edge
 * that is tight (d[v] = d[u] + w).  Each rep: a new source. */
#include "program.h"

const uint32_t program_default_reps = 130;

#define V 512u
#define OUT 9u                                  /* 8 random edges and the ring edge */
#define INF 0xFFFFFFFFu

static uint16_t to[V][OUT];
static uint8_t weight_of[V][OUT];
static uint16_t weight_ring = 1000;
static uint32_t dist[V];
static uint8_t done[V], tight[V];

static uint32_t weight(uint32_t u, uint32_t e)
{
    return e == OUT - 1 ? weight_ring : weight_of[u][e];
}

static void shortest_paths(uint32_t source)
{
    for (uint32_t v = 0; v < V; v++)
        dist[v] = INF, done[v] = 0;
    dist[source] = 0;
    for (;;) {
        uint32_t u = V, best = INF;
        for (uint32_t v = 0; v < V; v++)
            if (!done[v] && dist[v] < best)
                best = dist[v], u = v;
        if (u == V)
            return;
        done[u] = 1;
        for (uint32_t e = 0; e < OUT; e++) {
            uint32_t v = to[u][e], d = best + weight(u, e);
            if (d < dist[v])
                dist[v] = d;
        }
    }
}

static int certified(uint32_t source)
{
    if (dist[source] != 0)
        return 0;
    bp_fill(tight, 0, sizeof tight);
    for (uint32_t u = 0; u < V; u++) {
        if (dist[u] == INF)
            return 0;                           /* the ring reaches every vertex */
        for (uint32_t e = 0; e < OUT; e++) {
            uint32_t v = to[u][e], d = dist[u] + weight(u, e);
            if (dist[v] > d)
                return 0;
            if (dist[v] == d)
                tight[v] = 1;
        }
    }
    for (uint32_t v = 0; v < V; v++)
        if (v != source && !tight[v])
            return 0;
    return 1;
}

uint32_t program_run(uint32_t reps)
{
    uint32_t seed = 0x9E3779B9u;
    for (uint32_t u = 0; u < V; u++) {
        for (uint32_t e = 0; e < OUT - 1; e++) {
            to[u][e] = (uint16_t)(bp_rand(&seed) % V);
            weight_of[u][e] = (uint8_t)(1 + bp_rand(&seed) % 100);
        }
        to[u][OUT - 1] = (uint16_t)((u + 1) % V);
    }
    for (uint32_t r = 0; r < reps; r++) {
        uint32_t source = (r * 37) % V;
        shortest_paths(source);
        if (!certified(source))
            return 1;
    }
    return 0;
}
