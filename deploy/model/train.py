"""Train the iris model and write it with joblib: ``python train.py OUT_FILE``.

Run it with the model's own interpreter (the same scikit-learn that will load the file).
"""

import sys

import joblib
from IrisClassifier import train

if __name__ == "__main__":
    joblib.dump(train(), sys.argv[1])
