"""Mixed precision by what the device supports: bf16 only where the GPU computes it, fp16 with a loss scaler
on older GPUs (Colab's T4), fp32 on the CPU; and the record says which one a run used."""
import pytest
import torch

from imlib import engine


@pytest.fixture
def gpu(monkeypatch):
    """Pretend to be on a GPU whose bf16 support the test decides (no GPU is needed)."""
    def make(bf16: bool):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)
        return torch.device("cuda")
    return make


def test_cpu_trains_in_fp32():
    cpu = torch.device("cpu")
    assert engine.amp_dtype(cpu) is None and engine.precision_name(cpu) == "fp32"
    assert engine.make_scaler(cpu) is None
    assert isinstance(engine.autocast(cpu), type(engine.nullcontext()))


def test_bf16_only_where_supported(gpu):
    assert engine.amp_dtype(gpu(True)) is torch.bfloat16 and engine.precision_name(gpu(True)) == "bf16"
    assert engine.amp_dtype(gpu(False)) is torch.float16 and engine.precision_name(gpu(False)) == "fp16"
    assert engine.precision_name(gpu(True), enabled=False) == "fp32"


@pytest.mark.filterwarnings("ignore:torch.cuda.amp.GradScaler is enabled, but CUDA is not available")
def test_fp16_gets_a_loss_scaler_and_bf16_none(gpu):
    assert engine.make_scaler(gpu(True)) is None
    assert isinstance(engine.make_scaler(gpu(False)), torch.amp.GradScaler)
    assert engine.make_scaler(gpu(False), enabled=False) is None


@pytest.mark.parametrize("scaled", [False, True])
def test_optimizer_step_through_a_scaler_updates_like_plain_step(scaled):
    """The scaled step unscales before the update, so one SGD step equals the unscaled one."""
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(4))
    opt = torch.optim.SGD([w], lr=0.1)
    before = w.detach().clone()
    loss = (w ** 2).sum()
    engine.optimizer_step(loss, opt, torch.amp.GradScaler("cpu", init_scale=1024.0) if scaled else None)
    assert torch.allclose(w.detach(), before - 0.1 * 2 * before, atol=1e-6)


def test_record_says_precision_and_version():
    from imlib import __version__
    from imlib.records import Environment

    env = Environment.current(torch.device("cpu"))
    assert env.precision == "fp32" and env.imlib_version == __version__
