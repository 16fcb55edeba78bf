"FASRGAN, Fs-SRGAN and FA+Fs-SRGAN from scratch: literate notebooks exported to a library."
__version__ = "0.1.0"
