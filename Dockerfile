FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
ENV CARDSHOP_BIND=0.0.0.0:8000
EXPOSE 8000
CMD ["sh", "-c", "flask --app wsgi cardshop init-db --if-new && gunicorn -c gunicorn.conf.py"]
