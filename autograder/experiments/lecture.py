"""What the lecture claims, how it ran each experiment, and the budgets the kit runs them on.

The lecture's numbers are its own printed results (the PyTorch code of "Deep Learning Zero
To All", which the course follows: torch.manual_seed(777); MNIST through torchvision's
DataLoader with ToTensor, shuffled batches of 100 with drop_last; Adam lr 0.001 for 15
epochs; lab 9-4's batch-norm comparison with Adam lr 0.01, batches of 32, 10 epochs). The
kit runs the same models and budgets with its in-memory loader (course/mnist.Batches) and
scores the test set on pixels in [0, 1] (the lecture's scoring cell used the raw 0-255
pixels of mnist_test.test_data). docs/experiments.md says what differs and why it matters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

LECTURE_SEED = 777

# The lecture's MNIST training (labs 9-1 to 9-3).
MNIST_LR, MNIST_BATCH, MNIST_EPOCHS = 0.001, 100, 15
# Lab 9-4's batch-norm comparison: its own learning rate, batch size and epochs.
BN_LR, BN_BATCH, BN_EPOCHS, BN_HIDDEN = 0.01, 32, 10, 32
# The MLPs: the lecture's (784-256-256-10, and the deeper 784-512-512-512-512-10), and the deep
# narrow network of lab 9-1's vanishing_gradient check (8 hidden layers of 64), where sigmoid fails.
MLP_WIDTHS = (784, 256, 256, 10)
DEEPER_WIDTHS = (784, 512, 512, 512, 512, 10)
DEEP_NARROW = (64,) * 8
GRAD_WIDTH = 64
GRAD_DEPTHS = tuple(range(1, 10))  # hidden layers: 2 to 10 Linear layers
GRAD_SAMPLES = 256  # training images in the batch of the gradient norms
# Lab 9-3's dropout: the lecture's p for its deep network; and the overfitting run, a network
# that reaches 100% training accuracy on a small training subset. There p = 0.5 (Srivastava et
# al. 2014's value for hidden units): the lecture's 0.3 helps too little to show on 1000 images
# (measured: one seed in four went the other way; docs/experiments.md).
DROPOUT_P = 0.3
OVERFIT_P, OVERFIT_HIDDEN, OVERFIT_LAYERS = 0.5, 256, 3
# Lab 9-1's optimizers (the names its make_optimizer takes), each at torch's default learning rate.
OPTIMIZERS = ("sgd", "adadelta", "adagrad", "adam", "adamax", "asgd", "rmsprop", "rprop")
OPTIMIZER_WIDTHS = (256, 256)
ACTIVATION_SAMPLES = 500  # training images whose hidden activations make the histograms


@dataclass(frozen=True)
class Budget:
    """How much of the lecture's budget a run spends. Times are seconds."""

    name: str
    seeds: tuple[int, ...]
    xor_steps: int            # training steps of each XOR network (the lecture: 10001)
    stuck_tries: int          # fresh 2-2-1 networks trained at the xor_learned check's settings
    mnist_epochs: int         # epochs of labs 9-1 to 9-3's MNIST runs (the lecture: 15)
    mnist_samples: int | None  # training images of those runs (None: all 60000)
    bn_epochs: int            # epochs of the batch-norm runs (the lecture: 10)
    optimizer_steps: int      # steps of each optimizer (the lecture's batches of 100)
    overfit_samples: int      # the dropout experiment's small training subset
    overfit_epochs: int
    overfit_evals: int        # how often its accuracies are measured during training
    lecture_dropout: bool     # also the lecture's own dropout pair on all of MNIST
    call_timeout_s: float     # the longest one probe call may take (an epoch, a try)
    cpu_s: int                # CPU seconds of one worker (its training run)

    @property
    def lecture_scale(self) -> bool:
        """Whether the MNIST runs use the lecture's whole budget, so that its numbers compare."""
        return self.mnist_epochs >= MNIST_EPOCHS and self.mnist_samples is None and self.bn_epochs >= BN_EPOCHS

    def describe(self) -> str:
        samples = "all 60000 training images" if self.mnist_samples is None else \
            f"the first {self.mnist_samples} training images"
        return (f"{self.name}: seeds {', '.join(map(str, self.seeds))}; XOR {self.xor_steps} steps, "
                f"{self.stuck_tries} tries for the stuck rate; MNIST {self.mnist_epochs} epochs on {samples} "
                f"(batch norm {self.bn_epochs} epochs); {self.optimizer_steps} steps per optimizer; the dropout "
                f"run {self.overfit_epochs} epochs on {self.overfit_samples} images; every test accuracy on all "
                "10000 test images")


FULL = Budget("full", (LECTURE_SEED, LECTURE_SEED + 1, LECTURE_SEED + 2), xor_steps=10001, stuck_tries=1000,
              mnist_epochs=MNIST_EPOCHS, mnist_samples=None, bn_epochs=BN_EPOCHS, optimizer_steps=600,
              overfit_samples=1000, overfit_epochs=30, overfit_evals=6, lecture_dropout=True,
              call_timeout_s=600, cpu_s=7200)
# --quick: about 2 minutes on 2 CPU cores for all six (docs/experiments.md has the measured times).
QUICK = Budget("quick", (LECTURE_SEED, LECTURE_SEED + 1), xor_steps=10001, stuck_tries=24,
               mnist_epochs=3, mnist_samples=6000, bn_epochs=3, optimizer_steps=100,
               overfit_samples=1000, overfit_epochs=30, overfit_evals=3, lecture_dropout=False,
               call_timeout_s=120, cpu_s=600)


@dataclass(frozen=True)
class Experiment:
    """One of the lecture's claims: the labs it is about (`autograder experiments LAB` runs it for
    them), the claim in the lecture's words, how the lecture ran it, its numbers by training run
    (arm), and the labs whose code it runs besides (`uses`)."""

    number: int
    id: str
    title: str
    labs: tuple[str, ...]
    claim: str
    lecture: str
    numbers: dict[str, float] = field(default_factory=dict)
    uses: tuple[str, ...] = ()


EXPERIMENTS = (
    Experiment(
        1, "xor", "XOR: a perceptron cannot learn it, a multi-layer perceptron can",
        ("lab08_1_perceptron", "lab08_2_xor_mlp"),
        "A single perceptron cannot learn XOR: its cost stays at ln 2 ≈ 0.693. A 2-2-1 MLP learns it (cost "
        "0.00123 after 10001 steps) and a 2-10-10-10-1 MLP learns it better (0.000157).",
        "Labs 8-1 and 8-2: the four XOR rows as one batch, BCELoss, SGD with lr 1 for 10001 steps, a sigmoid "
        "after every layer, torch.manual_seed(777).",
        {"perceptron": math.log(2), "mlp_2_2_1": 0.00123, "mlp_2_10_10_10_1": 0.000157}),
    Experiment(
        2, "activations", "Sigmoid against ReLU: the vanishing gradient", ("lab09_1_relu",),
        "Sigmoid's slope is at most 1/4, so the gradient that reaches the first layer of a deep sigmoid network "
        "shrinks with every layer and the network stops learning; with ReLU it does not.",
        "Lab 9-1 shows it in pictures and gives no number; the kit uses the deep network of the "
        "vanishing_gradient check (8 hidden layers of 64) and the lecture's MNIST training (Adam lr 0.001, "
        "batches of 100)."),
    Experiment(
        3, "optimizers", "The torch.optim family on one MLP", ("lab09_1_relu",),
        "torch.optim holds many optimizers (SGD, Adadelta, Adagrad, Adam, Adamax, ASGD, RMSprop, Rprop); Adam is "
        "a good default, and the lecture trains every MNIST model with it.",
        "Lab 9-1 lists the optimizers and gives no number; the kit trains the lecture's 784-256-256-10 ReLU MLP "
        "with each, at torch's default learning rate, on the same batches of 100."),
    Experiment(
        4, "init", "Initialization: softmax, normal_, Xavier, He, deeper", ("lab09_2_xavier",),
        "On MNIST, softmax regression reaches 0.894; a ReLU MLP with normal_ initialization 0.942; the same MLP "
        "with Xavier initialization 0.9805; a deeper one with Xavier 0.9819.",
        "Labs 9-1 and 9-2: 15 epochs of Adam lr 0.001 on batches of 100, torch.manual_seed(777); softmax is "
        "Linear(784, 10) with normal_ weights; the MLP 784-256-256-10 with ReLU; the deeper one "
        "784-512-512-512-512-10 with xavier_uniform_.",
        {"softmax": 0.894, "normal": 0.942, "xavier": 0.9805, "deeper_xavier": 0.9819},
        uses=("lab09_1_relu",)),  # its training loop: the student's train_epoch of lab 9-1
    Experiment(
        5, "dropout", "Dropout: against overfitting, and off in eval mode", ("lab09_3_dropout",),
        "Dropout keeps a network from overfitting its training set: training and test accuracy stay closer "
        "together. It must be off in eval mode. The lecture's deep network with dropout (p = 0.3) reached "
        "0.9772 (0.9819 without).",
        "Lab 9-3: 784-512-512-512-512-10 with ReLU, dropout p = 0.3 after each hidden layer, xavier_uniform_, "
        "15 epochs of Adam lr 0.001 on batches of 100.",
        {"lecture_dropout": 0.9772, "lecture_plain": 0.9819}),
    Experiment(
        6, "batchnorm", "Batch normalization against a plain network", ("lab09_4_batchnorm",),
        "With batch normalization the same network trains better: test accuracy 0.97 against 0.96 without.",
        "Lab 9-4: 784-32-32-10 with ReLU, batch normalization after each hidden Linear layer, Adam lr 0.01 on "
        "batches of 32 for 10 epochs; accuracies printed with two digits.",
        {"bn": 0.97, "plain": 0.96}),
)


def experiment(exp_id: str) -> Experiment:
    for e in EXPERIMENTS:
        if e.id == exp_id:
            return e
    raise KeyError(f"unknown experiment {exp_id!r}")


def for_labs(labs: list[str]) -> list[Experiment]:
    """The experiments that run the code of any of `labs`, in the lecture's order."""
    return [e for e in EXPERIMENTS if set(e.labs) & set(labs)]
