"""What every semi-supervised baseline shares with the references: the labeled signal, and the
validation of a mean teacher's student and EMA teacher."""
import torch

from imlib.data import SegData
from imlib.methods.fixmatch import FixMatch
from imlib.methods.imas import IMAS
from imlib.models.unet import LightUNet


def _data(n=12, size=16):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 2, (n, 1, size, size), generator=g, dtype=torch.uint8)
    return SegData(images, labels)


def test_labeled_batches_are_unaugmented_as_ldt_sees_them(binary_task):
    """LDT, ME and IM train without online augmentation; the baselines' labeled batches must be the
    labeled pairs themselves, not flipped or rotated ones."""
    labeled = _data()
    objective = FixMatch(labeled, _data(8).images, binary_task, batch_size=4)
    objective.bind(LightUNet(3, 1, alpha=0.125), torch.device("cpu"), seed=0)
    pairs = {labeled.images[i].numpy().tobytes(): labeled.labels[i] for i in range(len(labeled))}
    for _ in range(6):
        x, y = objective.labeled_batch()
        for image, label in zip(x, y):
            key = image.numpy().tobytes()
            assert key in pairs, "a labeled image was transformed"
            assert torch.equal(pairs[key], label)


def test_a_mean_teacher_offers_student_and_teacher_for_validation(multiclass_task):
    objective = IMAS(_data(), _data(8).images, multiclass_task, batch_size=4)
    student = LightUNet(3, multiclass_task.num_outputs, alpha=0.125)
    objective.bind(student, torch.device("cpu"), seed=0)
    candidates = objective.eval_candidates(student)
    assert list(candidates) == ["student", "teacher"]
    assert candidates["student"] is student and candidates["teacher"] is objective.teacher
