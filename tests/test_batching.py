import numpy as np

from textrnn.batching import BucketBatchSampler, collate


def test_bucket_sampler_covers_every_text_once_in_similar_length_batches():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 200, size=1000)
    sampler = BucketBatchSampler(lengths, batch_size=32, seed=0, pool_batches=10)
    sampler.set_epoch(1)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 0.25 * np.mean([np.ptp(lengths[rng.permutation(1000)[:32]]) for _ in range(20)])
    assert list(sampler) == batches  # same epoch, same order
    sampler.set_epoch(2)
    assert list(sampler) != batches


def test_bucket_sampler_shards_evenly_across_ranks():
    lengths = np.arange(1, 331)
    shards = [list(BucketBatchSampler(lengths, 16, seed=5, num_replicas=3, rank=rank)) for rank in range(3)]
    assert len({len(shard) for shard in shards}) == 1  # DDP needs the same number of steps on every rank
    assert all(len(BucketBatchSampler(lengths, 16, seed=5, num_replicas=3, rank=r)) == len(shards[0]) for r in range(3))
    seen = {i for shard in shards for batch in shard for i in batch}
    assert seen == set(range(330))


def test_evaluation_order_is_sorted_by_length():
    lengths = [5, 1, 3, 3, 9]
    assert list(BucketBatchSampler(lengths, 2, shuffle=False)) == [[1, 2], [3, 0], [4]]
    for rank in range(2):  # sharded: 3 batches padded to 4, two per rank, and len() agrees
        shard = BucketBatchSampler(lengths, 2, shuffle=False, num_replicas=2, rank=rank)
        assert len(list(shard)) == len(shard) == 2


def test_collate_pads_and_keeps_lengths_on_the_cpu():
    batch = collate([np.array([4, 5, 6]), [7]], labels=[1, 0])
    assert batch["ids"].tolist() == [[4, 5, 6], [7, 0, 0]]
    assert batch["lengths"].tolist() == [3, 1] and batch["lengths"].device.type == "cpu"
    assert batch["labels"].tolist() == [1, 0]


def test_texts_only_joins_corpora_text_by_text_without_labels():
    import numpy as np

    from textrnn.batching import EncodedSplit

    first = EncodedSplit(np.array([9, 2, 3, 4, 5, 6], dtype=np.int32)[1:], np.array([0, 3, 5]), np.array([1, 0]))
    second = EncodedSplit(np.array([7, 8, 9], dtype=np.int32), np.array([0, 1, 3]), np.array([[1.0], [0.0]]))
    joined = first.texts_only(second)
    assert [joined[i][0].tolist() for i in range(len(joined))] == [[2, 3, 4], [5, 6], [7], [8, 9]]
    assert joined.labels.tolist() == [0, 0, 0, 0]
