"""ganeval.neighbours: the k-NN of generated samples among real ones, against a brute-force numpy k-NN.

The reference is computed here in float64 from the full distance matrix (argsort by distance, then
index). Checked: equal indices and distances, for float32 and float64 tiles and for tiles from a few
rows to one; exact duplicates and planted copies (distance exactly 0); leaving each query's own row out;
the median nearest-neighbour distance; one-line errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from ganeval.errors import BadInputError
from ganeval.neighbours import median_nn_distance, nearest_neighbours


def brute_force(q: np.ndarray, r: np.ndarray, k: int, exclude: np.ndarray | None = None):
    d2 = ((q.astype(np.float64)[:, None, :] - r.astype(np.float64)[None, :, :]) ** 2).sum(axis=-1)
    if exclude is not None:
        d2[np.arange(len(q)), exclude] = np.inf
    cols = np.broadcast_to(np.arange(r.shape[0]), d2.shape)
    order = np.lexsort((cols, d2), axis=-1)[:, :k]
    return order, np.sqrt(np.take_along_axis(d2, order, axis=1))


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(7)
    real = rng.normal(size=(600, 24)).astype(np.float32)
    real[100:106] = real[5]  # six exact duplicates of one real sample
    fake = rng.normal(size=(70, 24)).astype(np.float32)
    fake[3] = real[42]  # a memorised training image
    fake[9] = real[5]  # a copy of the duplicated one: its neighbours tie at 0, lowest index first
    return fake, real


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("block_mib", [5e-3, 0.05, 256])  # tiles of 9-14 rows, 43-60, all
def test_equals_brute_force_knn(sets, dtype, block_mib):
    fake, real = sets
    knn = nearest_neighbours(fake, real, 4, block_mib=block_mib, dtype=dtype)
    idx, dist = brute_force(fake, real, 4)
    np.testing.assert_array_equal(knn.indices, idx)
    np.testing.assert_allclose(knn.distances, dist, rtol=1e-12, atol=0)
    assert knn.indices.dtype == np.int64 and knn.distances.shape == (70, 4)


def test_answer_does_not_depend_on_blocks_or_tile_dtype(sets):
    fake, real = sets
    runs = [nearest_neighbours(fake, real, 7, block_mib=b, dtype=t)
            for b in (3e-3, 0.01, 64) for t in (np.float32, np.float64)]
    for other in runs[1:]:
        np.testing.assert_array_equal(other.indices, runs[0].indices)
        np.testing.assert_array_equal(other.distances, runs[0].distances)  # bit for bit


def test_planted_copies_are_found_at_distance_zero(sets):
    fake, real = sets
    knn = nearest_neighbours(fake, real, 3)
    assert knn.indices[3, 0] == 42 and knn.distances[3, 0] == 0.0
    assert knn.indices[9].tolist() == [5, 100, 101] and knn.distances[9].tolist() == [0.0, 0.0, 0.0]
    others = np.setdiff1d(np.arange(len(fake)), [3, 9])
    assert knn.distances[others, 0].min() > 1.0  # nothing else is anywhere near a copy


def test_leaving_each_query_itself_out(sets):
    _, real = sets
    rows = np.arange(0, 600, 13)
    knn = nearest_neighbours(real[rows], real, 2, exclude=rows, block_mib=0.01)
    idx, dist = brute_force(real[rows], real, 2, exclude=rows)
    np.testing.assert_array_equal(knn.indices, idx)
    np.testing.assert_allclose(knn.distances, dist, rtol=1e-12, atol=0)
    assert not (knn.indices == rows[:, None]).any()
    at = rows.tolist().index(104)  # one of the duplicates of real[5]: its nearest other is real[5] itself
    assert knn.indices[at].tolist() == [5, 100] and knn.distances[at].tolist() == [0.0, 0.0]


def test_median_nearest_neighbour_distance(sets):
    _, real = sets
    everyone = nearest_neighbours(real, real, 1, exclude=np.arange(600))
    _, dist = brute_force(real, real, 1, exclude=np.arange(600))
    assert median_nn_distance(real, max_queries=600) == pytest.approx(float(np.median(dist[:, 0])), rel=1e-12)
    assert median_nn_distance(real, max_queries=600) == float(np.median(everyone.distances[:, 0]))
    # a seeded subset of queries estimates it, the same for the same seed
    sub = median_nn_distance(real, max_queries=200, seed=3)
    assert sub == median_nn_distance(real, max_queries=200, seed=3)
    assert sub == pytest.approx(float(np.median(dist[:, 0])), rel=0.1)


def test_bad_arguments_are_one_line_errors(sets):
    fake, real = sets
    with pytest.raises(BadInputError, match="differ in width: 24 vs 5"):
        nearest_neighbours(fake, real[:, :5], 1)
    with pytest.raises(BadInputError, match="k must be between 1 and the 3 real samples"):
        nearest_neighbours(fake, real[:3], 4)
    with pytest.raises(BadInputError, match="k must be between 1 and the 2 real samples"):
        nearest_neighbours(real[:3], real[:3], 3, exclude=[0, 1, 2])
    with pytest.raises(BadInputError, match="NaN or infinite"):
        nearest_neighbours(np.full((2, 24), np.nan), real, 1)
    with pytest.raises(BadInputError, match="at least 2 real samples"):
        median_nn_distance(real[:1])


def test_more_exact_ties_than_kept_candidates_take_a_second_pass(sets):
    fake, real = sets
    crowd = np.concatenate([real, np.repeat(real[7:8], 30, axis=0)])  # 31 copies of real[7]
    queries = np.concatenate([fake[:5], real[7:8]])
    knn = nearest_neighbours(queries, crowd, 3, block_mib=0.01)
    idx, dist = brute_force(queries, crowd, 3)
    np.testing.assert_array_equal(knn.indices, idx)
    np.testing.assert_allclose(knn.distances, dist, rtol=1e-12, atol=0)
    assert knn.indices[5].tolist() == [7, 600, 601] and knn.distances[5].tolist() == [0.0, 0.0, 0.0]
    assert knn.exact_checks > len(queries) * 12  # beyond the k + 8 candidates kept per query: a second pass
