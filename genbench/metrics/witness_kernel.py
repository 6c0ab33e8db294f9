"""The relaxed witness complex (gudhi's rule) of one landmark set, compiled with numba.

gudhi's `WitnessComplex.create_simplex_tree(max_alpha_square=alpha, limit_dimension=2)` gives a simplex s of up
to 3 landmarks, witnessed by w, the value  f_w(s) = d_max - d_g  (0 when d_max <= d_g), where d_max is the
largest distance from w to a landmark of s and d_g the distance to w's nearest landmark *not* in s (none:
f_w(s) = 0), and keeps it when  d_max - alpha <= d_g.  A simplex's filtration is the smallest f_w over its
witnesses, raised to its faces' values; it exists only when all its faces do.

In w's list of landmarks sorted by distance, d_g is the first position missing from s, so only landmarks
with d - alpha <= (3rd smallest distance) can enter, and for each g the positions after g are scanned until
the test fails. The loops below are that rule written out per witness: the same comparisons and subtractions,
in float64, as gudhi's C++ loop, hence the same values (the tests compare every simplex and value). What
gudhi spends its time on, a simplex-tree search and insertion per witnessed simplex, becomes a store into a
dense table of the smallest values, indexed by the landmark ids.

Why numba: the per-witness enumeration is a few dozen short, branchy loops per witness; as numpy array
operations it spends most of its time in temporaries and small calls (profile in
scripts/bench_geometry_score.py's docstring), and the speed target (10x the reference) needs it compiled.
"""

from __future__ import annotations

from math import comb

import numba
import numpy as np

MAX_LANDMARKS = 294  # the triangle tables take 20 bytes for each of the C(L, 3) triangles: 80 MiB at L = 294


class Workspace:
    """Dense tables of the smallest values (inf = not witnessed) for L landmarks, reused across complexes."""

    def __init__(self, n_landmarks: int):
        if n_landmarks > MAX_LANDMARKS:
            raise ValueError(f"{n_landmarks} landmarks: the dense tables hold at most {MAX_LANDMARKS}")
        n_tri = comb(n_landmarks, 3)
        self.vertex = np.full(n_landmarks, np.inf)
        self.edge = np.full(n_landmarks * n_landmarks, np.inf)
        self.triangle = np.full(max(1, n_tri), np.inf)
        # the stores write one row past the simplices found so far: room for all of them and one more
        self.edge_keys = np.empty(comb(n_landmarks, 2) + 1, dtype=np.int64)
        self.triangle_ids = np.empty((n_tri + 1, 3), dtype=np.int32)

    def build(self, dist: np.ndarray, alpha: float):
        """The filtered complex from (N, L) witness-landmark distances: (vertices (k0, 1), values),
        (edges (k1, 2), values), (triangles (k2, 3), values), landmark ids increasing along each row."""
        return _witness_complex(np.asarray(dist, dtype=np.float64), float(alpha), self.vertex, self.edge,
                                self.triangle, self.edge_keys, self.triangle_ids)


# The stores below are written without branches on the data (a taken-or-not branch per simplex that the CPU
# cannot predict cost more than half the time): ids are always written and the count advances when new.

@numba.njit(cache=True, nogil=True, inline="always")
def _store_edge(edge, keys, n_keys, n_land, a, b, value):
    key = min(a, b) * n_land + max(a, b)
    old = edge[key]
    keys[n_keys] = key
    edge[key] = value if value < old else old
    return n_keys + (old == np.inf)


@numba.njit(cache=True, nogil=True, inline="always")
def _store_triangle(triangle, ids, n_ids, a, b, c, value):
    lo, hi = min(a, b), max(a, b)
    a, mid = min(lo, c), max(lo, c)
    b, c = min(mid, hi), max(mid, hi)
    key = c * (c - 1) * (c - 2) // 6 + b * (b - 1) // 2 + a  # combinatorial number of a < b < c
    old = triangle[key]
    ids[n_ids, 0] = a
    ids[n_ids, 1] = b
    ids[n_ids, 2] = c
    triangle[key] = value if value < old else old
    return n_ids + (old == np.inf)


@numba.njit(cache=True, nogil=True, inline="always")
def _relax(far, near):
    """gudhi's value for a simplex whose farthest landmark is at `far` and first missing one at `near`."""
    return far - near if far > near else 0.0


@numba.njit(cache=True, nogil=True)
def _close_under_faces(n_land, vertex, edge, triangle, edge_keys, triangle_ids):
    """Drop simplices with a missing face, raise each value to its faces' values; reset the tables."""
    n_vert = 0
    for l in range(n_land):
        n_vert += vertex[l] < np.inf
    vertices = np.empty((n_vert, 1), dtype=np.int64)
    vertex_values = np.empty(n_vert)
    n_vert = 0
    for l in range(n_land):
        if vertex[l] < np.inf:
            vertices[n_vert, 0] = l
            vertex_values[n_vert] = vertex[l]
            n_vert += 1
    edges = np.empty((len(edge_keys), 2), dtype=np.int64)
    edge_values = np.empty(len(edge_keys))
    n_edges = 0
    for key in edge_keys:
        a, b = key // n_land, key % n_land
        value = max(edge[key], vertex[a], vertex[b])
        edge[key] = value  # inf when a vertex is missing: its triangles go too
        if value < np.inf:
            edges[n_edges, 0] = a
            edges[n_edges, 1] = b
            edge_values[n_edges] = value
            n_edges += 1
    triangles = np.empty((len(triangle_ids), 3), dtype=np.int64)
    triangle_values = np.empty(len(triangle_ids))
    n_tris = 0
    for t in range(len(triangle_ids)):
        a, b, c = np.int64(triangle_ids[t, 0]), np.int64(triangle_ids[t, 1]), np.int64(triangle_ids[t, 2])
        key = c * (c - 1) * (c - 2) // 6 + b * (b - 1) // 2 + a
        value = max(triangle[key], edge[a * n_land + b], edge[a * n_land + c], edge[b * n_land + c])
        triangle[key] = np.inf
        if value < np.inf:
            triangles[n_tris, 0] = a
            triangles[n_tris, 1] = b
            triangles[n_tris, 2] = c
            triangle_values[n_tris] = value
            n_tris += 1
    for key in edge_keys:
        edge[key] = np.inf
    vertex[:] = np.inf
    return ((vertices, vertex_values), (edges[:n_edges], edge_values[:n_edges]),
            (triangles[:n_tris], triangle_values[:n_tris]))


_TABLE = numba.types.float64[::1]
_KEYS = numba.types.int64[::1]


# one signature, compiled on first import and cached: `dist` may be a strided view (a block of columns)
@numba.njit((numba.types.float64[:, :], numba.types.float64, _TABLE, _TABLE, _TABLE, _KEYS, numba.types.int32[:, ::1]),
            cache=True, nogil=True)
def _witness_complex(dist, alpha, vertex, edge, triangle, edge_keys, triangle_ids):
    n_wit, n_land = dist.shape
    cd = np.empty(n_land + 1)  # the candidates of one witness: distances in increasing order, landmark ids
    ci = np.empty(n_land + 1, dtype=np.int64)
    n_edges = 0
    n_tris = 0
    for w in range(n_wit):
        # the third smallest distance bounds the candidates
        t0 = np.inf
        t1 = np.inf
        t2 = np.inf
        for l in range(n_land):
            d = dist[w, l]
            t2 = min(t2, max(t1, d))
            t1 = min(t1, max(t0, d))
            t0 = min(t0, d)
        bound = t2 if n_land >= 3 else (t1 if n_land == 2 else t0)
        m = 0
        for l in range(n_land):
            d = dist[w, l]
            cd[m] = d
            ci[m] = l
            m += d - alpha <= bound
        for i in range(1, m):  # insertion sort by distance, ties in landmark order
            d, l = cd[i], ci[i]
            j = i
            while j > 0 and cd[j - 1] > d:
                cd[j] = cd[j - 1]
                ci[j] = ci[j - 1]
                j -= 1
            cd[j] = d
            ci[j] = l
        # vertices: position 0 with value 0; position j missing 0
        vertex[ci[0]] = 0.0
        for j in range(1, m):
            if not cd[j] - alpha <= cd[0]:
                break
            value = _relax(cd[j], cd[0])
            vertex[ci[j]] = min(value, vertex[ci[j]])
        if m < 2:
            continue
        # edges: {0, 1} with nothing missing before; {0, j} missing 1; {i, j} missing 0
        n_edges = _store_edge(edge, edge_keys, n_edges, n_land, ci[0], ci[1], 0.0)
        for j in range(2, m):
            if not cd[j] - alpha <= cd[1]:
                break
            n_edges = _store_edge(edge, edge_keys, n_edges, n_land, ci[0], ci[j], _relax(cd[j], cd[1]))
        for j in range(2, m):
            if not cd[j] - alpha <= cd[0]:
                break
            value = _relax(cd[j], cd[0])
            for i in range(1, j):
                n_edges = _store_edge(edge, edge_keys, n_edges, n_land, ci[i], ci[j], value)
        if m < 3:
            continue
        # triangles: {0, 1, 2}; {0, 1, k} missing 2; {0, j, k} missing 1; {i, j, k} missing 0
        n_tris = _store_triangle(triangle, triangle_ids, n_tris, ci[0], ci[1], ci[2], 0.0)
        for k in range(3, m):
            if not cd[k] - alpha <= cd[2]:
                break
            n_tris = _store_triangle(triangle, triangle_ids, n_tris, ci[0], ci[1], ci[k], _relax(cd[k], cd[2]))
        for k in range(3, m):
            if not cd[k] - alpha <= cd[1]:
                break
            value = _relax(cd[k], cd[1])
            for j in range(2, k):
                n_tris = _store_triangle(triangle, triangle_ids, n_tris, ci[0], ci[j], ci[k], value)
        for k in range(3, m):
            if not cd[k] - alpha <= cd[0]:
                break
            value = _relax(cd[k], cd[0])
            for j in range(2, k):
                for i in range(1, j):
                    n_tris = _store_triangle(triangle, triangle_ids, n_tris, ci[i], ci[j], ci[k], value)
    return _close_under_faces(n_land, vertex, edge, triangle, edge_keys[:n_edges], triangle_ids[:n_tris])
